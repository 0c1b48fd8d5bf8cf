"""Activations inside Triton kernels, by the shared Activation codes (activation.py)."""
import triton
import triton.language as tl


@triton.jit
def apply_activation(x, ACT: tl.constexpr):
    if ACT == 1:  # relu
        x = tl.maximum(x, 0.0)
    elif ACT == 2:  # relu6
        x = tl.minimum(tl.maximum(x, 0.0), 6.0)
    elif ACT == 3:  # hardswish = x * relu6(x + 3) / 6
        x = x * (tl.minimum(tl.maximum(x + 3.0, 0.0), 6.0) * (1.0 / 6.0))
    elif ACT == 4:  # hardsigmoid = relu6(x + 3) / 6
        x = tl.minimum(tl.maximum(x + 3.0, 0.0), 6.0) * (1.0 / 6.0)
    elif ACT == 5:  # silu
        x = x * tl.sigmoid(x)
    elif ACT == 6:  # sigmoid
        x = tl.sigmoid(x)
    return x
