"""Per-layer profile of a zoo model at batch 1, side by side with ONNX Runtime's per-node
profile of the same weights, both measured in sequence (a whole forward each time, so
every layer sees the caches the previous layers left, as in a real forward).

    python bench/layer_profile.py --model mobilenet_v2 --threads 1 [--iters 60]
    python bench/layer_profile.py --model mobilenet_v3_large --switch gemm_ymm_tails   # A/B per layer

Ours: the model's whole chain (features, pool, classifier) as one C++ Network,
`run_profiled` (wall time of each layer inside the one call). ORT: `enable_profiling`,
node kernel times grouped by the `features.N` module their ONNX name comes from, the rest
as the head. Profiling slows ORT down (most at 2 threads), so the whole-forward row times
a second ORT session without it, and our model(x) through Python. Medians over
iterations; the runs alternate in rounds so a slow spell of the machine hits all.
With --switch NAME (a csrc/runtime/tuning.h switch), ORT is skipped and our forward
alternates call by call between the switch off and on: a per-layer in-process A/B.
"""
from __future__ import annotations

import argparse
import collections
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from mobilekernels import _ext, models  # noqa: E402
from mobilekernels.bench_cli import _randomize_bn  # noqa: E402
from mobilekernels.nn import unfused_copy  # noqa: E402
from mobilekernels.ops import Network  # noqa: E402
from mobilekernels.ops.cpu import _network_handle, _network_input  # noqa: E402
from mobilekernels.timing import settle  # noqa: E402


def layer_macs(layer, cin: int, h: int, w: int, cout: int, ho: int, wo: int) -> int:
    a = layer.args
    if layer.op == "conv_bn_act":
        return ho * wo * cout * a[1] * a[1] * cin
    if layer.op == "dwconv_bn_act":
        return ho * wo * cin * a[1] * a[1]
    if layer.op == "pwconv_bn_act":
        return h * w * cin * cout
    if layer.op == "global_avgpool":
        return 0
    expand, dw, k, fc1 = a[0], a[2], a[3], a[7]
    hid = dw.shape[1]
    macs = (h * w * cin * hid if expand is not None else 0) + ho * wo * hid * (k * k + cout)
    return macs + (2 * hid * fc1.shape[1] if fc1 is not None else 0)


def describe(layer, cin, h, cout, ho) -> str:
    a = layer.args
    if layer.op == "inverted_residual":
        hid = a[2].shape[1]
        return f"block {h}->{ho} {cin}-{hid}-{cout} k{a[3]} s{a[4]}" + (" se" if a[7] is not None else "")
    short = {"conv_bn_act": "conv", "dwconv_bn_act": "dw", "pwconv_bn_act": "pw"}.get(layer.op, layer.op)
    k = f" k{a[1]} s{a[2]}" if layer.op in ("conv_bn_act", "dwconv_bn_act") else ""
    return f"{short} {h}->{ho} {cin}->{cout}{k}"


def ort_session(model, x, threads: int, profile_dir: str):
    import onnxruntime as ort
    import torchvision

    name = type(model).__name__
    if name == "MobileNetV1":
        plain = unfused_copy(model)
    else:
        plain = getattr(torchvision.models, model._zoo_name)()
        plain.load_state_dict(model.state_dict())
    plain.eval()
    f = io.BytesIO()
    torch.onnx.export(plain, (x.contiguous(),), f, dynamo=False, input_names=["x"], output_names=["y"])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if profile_dir:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(profile_dir, "ort")
    return ort.InferenceSession(f.getvalue(), so, providers=["CPUExecutionProvider"])


def ort_per_module(profile_file: str, skip: int) -> dict:
    """Median kernel time per features index (int) or other top-level name (str), in us."""
    per_node = collections.defaultdict(list)
    for e in json.load(open(profile_file)):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[e["name"][: -len("_kernel_time")]].append(e["dur"])
    grouped = collections.defaultdict(float)
    for node, durs in per_node.items():
        m = re.search(r"features\.(\d+)", node)
        key = int(m.group(1)) if m else ("reorder" if node.startswith("Reorder") else "head")
        grouped[key] += statistics.median(durs[skip:] if len(durs) > 2 * skip else durs)
    return grouped


def fused_groups(*medians) -> list:
    """[(first, end)] layer ranges: a layer the network fused into the one before it (it
    reports 0 s, its time in its first layer's) joins that layer's group."""
    groups = []
    for j in range(len(medians[0])):
        if groups and any(m[j] == 0.0 for m in medians):
            groups[-1] = (groups[-1][0], j + 1)
        else:
            groups.append((j, j + 1))
    return groups


def ab_switch(args, layers, shapes, handle, xn, yn, nchw) -> None:
    saved = _ext._C.get_tuning(args.switch)
    per = {False: [[] for _ in layers], True: [[] for _ in layers]}
    try:
        for i in range(args.iters + 4):
            for on in ((False, True) if i % 2 else (True, False)):
                _ext._C.set_tuning(args.switch, on)
                secs = handle.run_profiled(xn, yn, nchw=nchw)
                if i >= 4:
                    for j, t in enumerate(secs):
                        per[on][j].append(t)
    finally:
        _ext._C.set_tuning(args.switch, saved)
    print(f"{args.model}: switch {args.switch} off/on, {args.threads} thread(s), medians of {args.iters} "
          f"alternating in-sequence runs")
    print(f"{'#':>3} {'layer':44} {'off us':>8} {'on us':>8} {'speedup':>8}")
    tot = [0.0, 0.0]
    med = {v: [statistics.median(per[v][j]) * 1e6 for j in range(len(layers))] for v in (False, True)}
    for first, end in fused_groups(med[False], med[True]):
        off, on = (sum(med[v][first:end]) for v in (False, True))
        tot[0] += off
        tot[1] += on
        for j in range(first, end):
            cin, h, _, cout, ho, _ = shapes[j]
            name = describe(layers[j], cin, h, cout, ho)
            if j == first:
                print(f"{j:3d} {name:44} {off:8.1f} {on:8.1f} {off / on:8.3f}")
            else:
                print(f"{j:3d} {name:44} {'(with the layer above)':>26}")
    print(f"    {'sum':44} {tot[0]:8.1f} {tot[1]:8.1f} {tot[0] / tot[1]:8.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2", choices=sorted(models.MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--switch", help="A/B this tuning switch per layer instead of comparing with ORT")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _ext._C.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = models.MODELS[args.model](1.0)
    model._zoo_name = args.model
    _randomize_bn(model)
    model.eval()
    x = torch.randn(1, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)

    n_features = len(model.features.network_layers())
    layers = model.features.network_layers() + model.avgpool.network_layers() + model.classifier.network_layers()
    net = Network(layers)
    handle = _network_handle(net, 3)
    with torch.no_grad():
        out = net(x)
    (xn, nchw), yn = _network_input(x), out.permute(0, 2, 3, 1).numpy()  # NCHW, as ORT gets it
    shapes, cur = [], x
    with torch.no_grad():
        for layer in layers:
            nxt = Network([layer])(cur)
            shapes.append((cur.shape[1], cur.shape[2], cur.shape[3], nxt.shape[1], nxt.shape[2], nxt.shape[3]))
            cur = nxt

    if args.switch:
        return ab_switch(args, layers, shapes, handle, xn, yn, nchw)

    sess = plain_sess = None
    tmp = tempfile.mkdtemp()
    if not args.no_peers:
        try:
            sess = ort_session(model, x, args.threads, tmp)
            plain_sess = ort_session(model, x, args.threads, None)
        except Exception as err:  # noqa: BLE001 - a missing peer is reported, not fatal
            print(f"ONNX Runtime unavailable: {err}")
    xo = x.contiguous().numpy()

    ours = [[] for _ in layers]
    whole_ours, whole_ort = [], []
    per_round = max(1, args.iters // args.rounds)
    with torch.no_grad():
        for _ in range(3):
            handle.run_profiled(xn, yn, nchw=nchw)
            model(x)
            if sess:
                sess.run(None, {"x": xo})
                plain_sess.run(None, {"x": xo})
        for _ in range(args.rounds):
            settle(0.05)  # other runtimes' workers stop spinning; a spin keeps the clock up (mobilekernels/timing.py)
            for _ in range(per_round):
                for i, s in enumerate(handle.run_profiled(xn, yn, nchw=nchw)):
                    ours[i].append(s)
            settle(0.05)
            for _ in range(per_round):
                t0 = time.perf_counter()
                model(x)
                whole_ours.append(time.perf_counter() - t0)
            if sess:
                settle(0.05)
                for _ in range(per_round):
                    sess.run(None, {"x": xo})
                settle(0.05)
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    plain_sess.run(None, {"x": xo})
                    whole_ort.append(time.perf_counter() - t0)
    ort = ort_per_module(sess.end_profiling(), 3) if sess else {}

    print(f"{args.model}, batch 1, {args.size}x{args.size}, {args.threads} thread(s), "
          f"isa {_ext._C.cpu_features()['best_isa']}, medians of {len(whole_ours)} in-sequence runs "
          f"(ORT per node: with profiling on)")
    print(f"{'#':>3} {'layer':44} {'ours us':>8} {'ORT us':>8} {'ORT/ours':>8} {'MMAC':>7} {'GFLOP/s':>8}")
    tot_ours = tot_ort = 0.0
    med = [statistics.median(ours[i]) * 1e6 for i in range(len(layers))]
    for first, end in fused_groups(med):  # a fused group: its time and ORT's summed on its first row
        t = sum(med[first:end])
        macs = sum(layer_macs(layers[i], *shapes[i]) for i in range(first, end))
        os_ = [ort.get(i) if i < n_features else None for i in range(first, end)]
        o = sum(os_) if all(os_) else None
        tot_ours += t
        tot_ort += o or 0.0
        for i in range(first, end):
            cin, h, w, cout, ho, wo = shapes[i]
            name = describe(layers[i], cin, h, cout, ho)
            if i > first:
                print(f"{i:3d} {name:44} {'(with the layer above)':>26}")
                continue
            ratio = f"{o / t:8.2f}" if o else f"{'-':>8}"
            ostr = f"{o:8.1f}" if o else f"{'-':>8}"
            print(f"{i:3d} {name:44} {t:8.1f} {ostr} {ratio} {macs / 1e6:7.2f} {2 * macs / t / 1e3:8.1f}")
    h_ours = sum(statistics.median(ours[i]) * 1e6 for i in range(n_features, len(layers)))
    h_ort = ort.get("head", 0.0) + ort.get("reorder", 0.0)
    print(f"    {'pool + classifier (ORT: + reorders)':44} {h_ours:8.1f} {h_ort:8.1f}")
    print(f"    {'sum of layers':44} {tot_ours:8.1f} {tot_ort + h_ort:8.1f}")
    w_ort = statistics.median(whole_ort) * 1e6 if whole_ort else float("nan")
    print(f"    {'whole forward: model(x) / ORT unprofiled':44} {statistics.median(whole_ours) * 1e6:8.1f} "
          f"{w_ort:8.1f}")


if __name__ == "__main__":
    main()
