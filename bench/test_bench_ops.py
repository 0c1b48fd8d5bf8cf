"""Per-op pytest-benchmark suite over the real MobileNet v2/v3 layer shapes.

    pytest bench/test_bench_ops.py --benchmark-only --benchmark-group-by=param:shape

Each shape is a benchmark group holding ours and the torch peer; `bench/op_table.py`
prints the same comparison as ratios and % of the machine's ceilings."""
import pytest
import torch

from layer_shapes import DEPTHWISE, POINTWISE
from op_impls import dwconv_variants, pwconv_variants


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.mark.parametrize("impl", ["mobilekernels", "torch"])
@pytest.mark.parametrize("shape", DEPTHWISE, ids=lambda s: s.id)
def test_dwconv_bn_act(benchmark, shape, impl):
    fns, _ = dwconv_variants(shape)
    benchmark(fns[impl])


@pytest.mark.parametrize("impl", ["mobilekernels", "torch"])
@pytest.mark.parametrize("shape", POINTWISE, ids=lambda s: s.id)
def test_pwconv_bn_act(benchmark, shape, impl):
    fns, _ = pwconv_variants(shape)
    benchmark(fns[impl])
