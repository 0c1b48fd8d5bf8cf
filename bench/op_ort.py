"""ONNX Runtime as the per-op peer: one Conv (+ ReLU6, which ORT fuses into the conv
kernel) in its own session, all graph optimizations on. Such a session also converts
its input to ORT's blocked layout (NCHWc) and back, which a real network does once, not
per layer; so the peer's time is the fused conv node's own kernel time from ORT's
profiler (`node_us`), the same quantity `bench/layer_profile.py` reads per layer."""
from __future__ import annotations

import collections
import io
import json
import os
import statistics
import tempfile

import torch
from torch import nn


class OrtConv:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, stride: int, padding: int,
                 groups: int, x: torch.Tensor, threads: int):
        import onnxruntime as ort

        cout, cin_g, k, _ = weight.shape
        conv = nn.Conv2d(cin_g * groups, cout, k, stride, padding, groups=groups)
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        f = io.BytesIO()
        torch.onnx.export(nn.Sequential(conv, nn.ReLU6()).eval(), (x.contiguous(),), f, dynamo=False,
                          input_names=["x"], output_names=["y"])
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
        self.sess = ort.InferenceSession(f.getvalue(), so, providers=["CPUExecutionProvider"])
        self.x = x.contiguous().numpy()

    def __call__(self):
        return self.sess.run(None, {"x": self.x})

    def node_us(self, skip: int = 3) -> float:
        """Median kernel time of the conv node (reorders excluded), in microseconds."""
        per = collections.defaultdict(list)
        path = self.sess.end_profiling()
        for e in json.load(open(path)):
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per[e["name"]].append(e["dur"])
        os.remove(path)
        conv = [d for n, d in per.items() if not n.startswith("Reorder")]  # node names follow outputs
        if len(conv) != 1:
            raise RuntimeError(f"OrtConv: expected one conv node, profile has {sorted(per)}")
        d = conv[0]
        return statistics.median(d[skip:] if len(d) > 2 * skip else d)
