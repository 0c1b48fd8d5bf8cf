import os

import torch

# Without a GPU the Triton kernels run on CPU tensors through Triton's interpreter; it must
# be chosen before any kernel is defined (triton reads it at @triton.jit time).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

import mobilekernels  # noqa: E402
from mobilekernels.ops import cpu  # noqa: E402

# DESIGN.md: relative error ||got - ref|| / ||ref|| against a float64 reference.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 2e-2, torch.float64: 1e-12}


def rel_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    got, ref = got.double(), ref.double()
    return ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def assert_close(got: torch.Tensor, ref: torch.Tensor, dtype=torch.float32, what: str = "",
                 scale: torch.Tensor | None = None):
    """Relative error vs a float64 reference. `scale`, when given, is the same computation
    on |inputs| and |weights| (the sum of absolute terms): sums that cancel to almost
    nothing are then judged against the size of their terms, the bound rounding obeys
    (|fl(sum) - sum| <= K * eps * sum |terms|), instead of against a near-zero result."""
    assert got.shape == ref.shape, f"{what}: shape {tuple(got.shape)} != {tuple(ref.shape)}"
    assert not torch.isnan(got).any(), f"{what}: output has NaN (an element was not written)"
    err = rel_error(got, ref)
    if scale is not None:
        denom = max(ref.double().norm().item(), scale.double().norm().item(), 1e-30)
        err = (got.double() - ref.double()).norm().item() / denom
    max_abs = (got.double() - ref.double()).abs().max().item()
    assert err <= TOLERANCE[dtype], f"{what}: rel err {err:.3g} > {TOLERANCE[dtype]} (max abs {max_abs:.3g})"


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so folding is exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model


@pytest.fixture(autouse=True)
def poison_outputs():
    """Every CPU kernel output starts as NaN, so an unwritten element fails."""
    cpu.POISON_OUTPUTS = True
    yield
    cpu.POISON_OUTPUTS = False


@pytest.fixture(autouse=True)
def default_backend():
    mobilekernels.set_backend("auto")
    yield
    mobilekernels.set_backend("auto")
