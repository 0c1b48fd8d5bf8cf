"""Latency measurement: warm-up, then many individually timed calls; medians and quantiles."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def measure(fn: Callable[[], object], iters: int, warmup: int, device: str = "cpu",
            progress=None) -> dict:
    for _ in range(warmup):
        fn()
    return summarize(_timed_calls(fn, iters, device, progress))


def _timed_calls(fn, iters: int, device: str, progress) -> list:
    times = []
    for _ in range(iters):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        if progress is not None:
            progress.update(1)
    return times


_SPIN_VECTORS = None


def spin(seconds: float) -> None:
    """Busy-waits `seconds` on the calling thread doing 256-bit vector work (a small
    addcmul, under ATen's grain size: one thread, in L1). A sleep brought the core back at
    a lower clock; a plain Python loop kept the clock but left the vector units cold: a
    58 us GEMM's next 20 calls ran at a median 80 us after a Python spin, 58-59.5 after
    this one or no pause at all (Zen 3 VM, 30 turns each, bench/NOTES.md session 22)."""
    global _SPIN_VECTORS
    if _SPIN_VECTORS is None:
        _SPIN_VECTORS = [torch.ones(2048) for _ in range(3)]
    acc, a, b = _SPIN_VECTORS
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        torch.addcmul(acc, a, b, value=0.0, out=acc)


def settle(min_seconds: float, max_seconds: float = 1.0, window: float = 0.01,
           busy: float = 0.05) -> float:
    """Spins (see spin) for at least `min_seconds`, then on until the process's other
    threads used under `busy` of a CPU over the last `window` seconds, for at most
    `max_seconds` in all; returns the seconds it waited. Runtimes keep their worker threads
    spinning after a call, each for its own time: ONNX Runtime's 2-thread pool used 40-60
    ms of CPU after its last call on the Zen 3 VM, ours ~1 ms, OpenMP's its own. A variant
    timed while another's workers still spin shares its cores with them: after a 10 ms
    pause our 2-thread v3-large ran its next 5 calls at 15-17 ms against 6.6-6.8 later
    (a 50 ms pause: its first 2 calls; bench/NOTES.md, session 31). The other threads'
    CPU time is the process's less this thread's (CLOCK_PROCESS_CPUTIME_ID and
    CLOCK_THREAD_CPUTIME_ID: the scheduler's own accounting, not ticks)."""
    start = time.perf_counter()
    spin(min_seconds)
    while time.perf_counter() - start < max_seconds:
        others = time.process_time() - time.thread_time()
        spin(window)
        if time.process_time() - time.thread_time() - others < busy * window:
            break
    return time.perf_counter() - start


def measure_interleaved(fns: dict, iters: int, warmup: int, device: str = "cpu", rounds: int = 5,
                        progress=None, pause: float = 0.05) -> dict:
    """measure() for several variants, interleaved: `rounds` rounds, each running every
    variant for iters/rounds calls in turn, so a slow spell of a noisy machine hits all
    of them instead of whichever ran then. Before each variant's turn the calling thread
    waits `pause` seconds: CPU runtimes keep their worker threads spinning for a while
    after a call (ours ~1 ms, ONNX Runtime's and OpenMP's their own time), and a spinning
    pool of the previous variant took the cores the next one needs (at 2 threads on 2
    cores a run after another runtime's took up to 5x its time). The wait spins instead of
    sleeping: a core that sleeps 50 ms comes back at a lower clock for 1-2 ms (Zen 3 VM: a
    70 us GEMM ran 115-185 us for the first ~15 calls after a 50 ms sleep, 63-90 after a
    50 ms spin), which charged short calls, the faster variant's most, the ramp; and it
    spins on vector work (see spin). Past `pause` it waits on until the other threads
    are idle (see settle): a fixed 50 ms was shorter than ONNX Runtime's spin. Each
    summary's `settle_ms` is the median of those waits before its turns.
    Each summary also holds the median of each round (`round_medians_ms`): paired_speedup
    compares two variants round by round, each pair ~0.1 s apart, so a slow spell of a
    few seconds shifts both sides of a pair, not the ratio.
    Returns {name: summary}."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    round_medians = {name: [] for name in fns}
    settled = {name: [] for name in fns}
    per_round = max(1, -(-iters // rounds))
    for r in range(rounds):
        for name, fn in fns.items():
            n = min(per_round, iters - r * per_round)
            if n > 0:
                if device == "cpu" and pause > 0:
                    settled[name].append(settle(pause) * 1e3)  # the previous variant's workers go idle
                fn()  # untimed: warms this variant's caches after the others ran
                turn = _timed_calls(fn, n, device, progress)
                times[name].extend(turn)
                round_medians[name].append(statistics.median(turn) * 1e3)
    return {name: dict(summarize(t), round_medians_ms=round_medians[name],
                       settle_ms=statistics.median(settled[name]) if settled[name] else 0.0)
            for name, t in times.items()}


def paired_speedup(fast: dict, slow: dict) -> float:
    """How many times faster `fast` ran than `slow` (summaries of one measure_interleaved
    run): the median over rounds of slow's round median / fast's."""
    pairs = list(zip(fast["round_medians_ms"], slow["round_medians_ms"]))
    if not pairs:
        raise ValueError("paired_speedup: the summaries hold no rounds")
    return statistics.median(s / f for f, s in pairs)


def summarize(times: list) -> dict:
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return {"median_ms": statistics.median(times) * 1e3, "p10_ms": q[0] * 1e3, "p90_ms": q[-1] * 1e3,
            "runs": len(times)}
