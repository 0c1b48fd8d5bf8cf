"""The per-op benchmark's variants compute the same layer: ours through Python, ours as a
one-layer static network, torch eager and ONNX Runtime's fused conv (bench/op_impls.py,
bench/op_ort.py), so the timings in bench/op_table.py compare like with like."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mobilekernels import _ext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from layer_shapes import ConvShape  # noqa: E402
from op_impls import dwconv_variants, pwconv_variants  # noqa: E402

SHAPES = [("dw", ConvShape(40, 40, 5, 2, 40, 15, 13)), ("dw", ConvShape(17, 17, 3, 1, 17, 9, 20)),
          ("pw", ConvShape(24, 40, 1, 1, 1, 7, 9))]


@pytest.mark.skipif(not _ext.available(), reason="needs the extension")
@pytest.mark.parametrize("kind,shape", SHAPES, ids=lambda s: getattr(s, "id", s))
def test_op_variants_agree(kind, shape):
    pytest.importorskip("onnxruntime")
    build = dwconv_variants if kind == "dw" else pwconv_variants
    with torch.no_grad():
        fns, nbytes = build(shape, peers=True)
        assert set(fns) == {"mobilekernels", "mk static", "torch", "onnxruntime"} and nbytes > 0
        want = fns["torch"]()
        for name in ("mobilekernels", "mk static"):
            got = fns[name]()
            assert got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-4), name
        # The static layer's own time inside the C++ call: recorded per call, within its wall time.
        static = fns["mk static"]
        assert len(static.seconds) == 1 and 0 < static.kernel_us() < 1e6
        ort = fns["onnxruntime"]
        got = torch.from_numpy(np.asarray(ort()[0]))
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)
        assert ort.node_us() > 0


def test_layer_profile_groups_fused_layers():
    """A layer the network ran inside the one before it reports 0 s: the profile shows the
    pair as one group (its time, and ORT's, summed on the first row)."""
    from layer_profile import fused_groups

    assert fused_groups([5.0, 0.0, 0.0, 3.0, 2.0]) == [(0, 3), (3, 4), (4, 5)]
    # A/B: a layer starts a group only where neither variant fused it.
    assert fused_groups([5.0, 4.0, 3.0], [9.0, 0.0, 3.0]) == [(0, 2), (2, 3)]


def test_measure_interleaved_spins_between_turns():
    """Each variant gets its share of calls in interleaved turns, and the pause before a turn
    is a busy wait (the calling thread stays on its core: no sleep, whose clock ramp charged
    short calls), at least as long as asked."""
    import time

    from mobilekernels import timing

    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    cpu0, t0 = time.process_time(), time.perf_counter()
    res = timing.measure_interleaved(fns, iters=10, warmup=1, rounds=5, pause=0.02)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert res["a"]["runs"] == 10 and res["b"]["runs"] == 10
    assert wall >= 10 * 0.02  # 5 rounds x 2 turns
    # The wait ran on the CPU, not asleep (a sleep uses ~1% of it). Not 80%: other processes
    # on the cores take CPU time from a spin (a CI run beside a benchmark read 68%).
    assert cpu >= 0.3 * 10 * 0.02
    turns = "".join(order[2:])  # after the warm-up: [untimed + 2 timed] per turn
    assert turns == "aaabbb" * 5
    assert len(res["a"]["round_medians_ms"]) == 5 and len(res["b"]["round_medians_ms"]) == 5


def test_settle_waits_for_other_threads_to_go_idle():
    """settle() returns after its minimum when no other thread works, and waits on while
    another thread burns CPU (as a runtime's spinning pool does after a call), returning
    soon after it stops. The burner hashes a large buffer: hashlib drops the GIL, so its
    CPU time is spent beside the spin, as a C++ worker's is."""
    import hashlib
    import threading
    import time

    from mobilekernels import timing

    assert timing.settle(0.02) < 0.5
    burn, data, stop = 0.3, bytes(1 << 20), threading.Event()

    def burner():
        end = time.perf_counter() + burn
        while time.perf_counter() < end:
            hashlib.sha256(data).digest()
        stop.set()

    t = threading.Thread(target=burner)
    t.start()
    waited = timing.settle(0.02, max_seconds=2.0)
    t.join()
    assert stop.is_set()
    assert 0.5 * burn <= waited < 1.5, waited


def test_paired_speedup_follows_the_rounds_not_the_pooled_medians():
    """A slow spell moves both variants' times alike round by round, so the round-by-round
    ratio stays 2x where the pooled medians need not. It fails loudly on no rounds."""
    from mobilekernels import timing

    fast = {"round_medians_ms": [1.0, 1.0, 1.0, 3.0, 3.0]}
    slow = {"round_medians_ms": [2.0, 2.0, 2.0, 6.0, 6.0]}
    assert timing.paired_speedup(fast, slow) == 2.0
    assert timing.paired_speedup(slow, fast) == 0.5
    # A spell (3x) that starts between the two turns of round 3: pooled medians 1 and 6
    # read 6x; round by round it is 2x.
    assert timing.paired_speedup({"round_medians_ms": [1.0, 1.0, 1.0, 3.0, 3.0]},
                                 {"round_medians_ms": [2.0, 2.0, 6.0, 6.0, 6.0]}) == 2.0
    with pytest.raises(ValueError, match="no rounds"):
        timing.paired_speedup({"round_medians_ms": []}, {"round_medians_ms": []})
