"""Pointwise conv = GEMM with tl.dot: Y[M, N] = act(X[M, K] . B[K, N] + bias) (+ R), the
bias as row K of the packed weight. Tensor cores for float16/bfloat16; float32 uses IEEE
fp32 (no TF32) so results meet the float32 tolerance. Grouped tile order for L2 reuse.

Two A-load variants (constexpr, off for plain pointwise convs):
- GATED: A[m, k] * gate[m // rows_per_gate, k] is what multiplies B -- the squeeze-excite
  channel scale applied as A is loaded (rows_per_gate = H*W pixels per image), so the scaled
  activation tensor is never written. The product is rounded to B's dtype first, as the
  unfused scale-then-project path stores it.
- SCALE_A: A * a_scale, rounded to B's dtype (A may be float32 with half B): the SE's first
  FC reads the depthwise kernel's float32 channel sums and turns them into means on load."""
import torch
import triton
import triton.language as tl

from .activation import apply_activation

# Tests set this to fill outputs with NaN before the kernel runs (an unwritten element fails).
POISON_OUTPUTS = False


@triton.jit
def _gemm_kernel(a_ptr, b_ptr, r_ptr, y_ptr, g_ptr, M, N, K, rows_per_gate, a_scale,
                 HAS_RES: tl.constexpr, ACT: tl.constexpr, FP32: tl.constexpr,
                 GATED: tl.constexpr, SCALE_A: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    grid_m = tl.cdiv(M, BLOCK_M)
    grid_n = tl.cdiv(N, BLOCK_N)
    group = pid // (GROUP_M * grid_n)
    first_m = group * GROUP_M
    rows_in_group = tl.minimum(grid_m - first_m, GROUP_M)
    pid_m = first_m + (pid % rows_in_group)
    pid_n = (pid % (GROUP_M * grid_n)) // rows_in_group
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = rm < M
    n_ok = rn < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        k_ok = rk < K
        a = tl.load(a_ptr + rm.to(tl.int64)[:, None] * K + rk[None, :], mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        b = tl.load(b_ptr + rk[:, None] * N + rn[None, :], mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        if GATED:
            g = tl.load(g_ptr + (rm // rows_per_gate).to(tl.int64)[:, None] * K + rk[None, :],
                        mask=m_ok[:, None] & k_ok[None, :], other=0.0)
            a = (a.to(tl.float32) * g.to(tl.float32)).to(b.dtype)
        if SCALE_A:
            a = (a.to(tl.float32) * a_scale).to(b.dtype)
        if FP32:
            acc = tl.dot(a, b, acc, input_precision="ieee")
        else:
            acc = tl.dot(a, b, acc)
    bias = tl.load(b_ptr + K * N + rn, mask=n_ok, other=0.0).to(tl.float32)
    acc = apply_activation(acc + bias[None, :], ACT)
    offs = rm.to(tl.int64)[:, None] * N + rn[None, :]
    ok = m_ok[:, None] & n_ok[None, :]
    if HAS_RES:
        acc += tl.load(r_ptr + offs, mask=ok, other=0.0).to(tl.float32)
    tl.store(y_ptr + offs, acc.to(y_ptr.dtype.element_ty), mask=ok)


def gemm_bias_act(a, packed, activation, residual=None, block_m=64, block_n=64, block_k=32, group_m=8, *,
                  gate=None, rows_per_gate=1, a_scale=None, out_dtype=None):
    """a [M, K] row-major, packed [K + 1, N] -> [M, N] in out_dtype (default a's dtype).
    gate [M // rows_per_gate, K] (row-major): A is multiplied by gate[m // rows_per_gate]
    as it is loaded. a_scale (float): A is multiplied by it as it is loaded (A may then be
    float32 while packed is half). Both round A to packed's dtype before the dot."""
    m, k = a.shape
    n = packed.shape[1]
    y = torch.empty((m, n), dtype=out_dtype or a.dtype, device=a.device)
    if POISON_OUTPUTS:
        y.fill_(float("nan"))
    grid = (triton.cdiv(m, block_m) * triton.cdiv(n, block_n),)
    _gemm_kernel[grid](a, packed, residual if residual is not None else y, y,
                       gate.contiguous() if gate is not None else y, m, n, k, rows_per_gate,
                       1.0 if a_scale is None else float(a_scale),
                       HAS_RES=residual is not None, ACT=int(activation), FP32=packed.dtype == torch.float32,
                       GATED=gate is not None, SCALE_A=a_scale is not None,
                       BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, GROUP_M=group_m)
    return y


def _rows(t):
    n, c, h, w = t.shape
    return t.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(n * h * w, c)


def pwconv_bn_act(x, packed, activation, residual=None, **blocks):
    n, _, h, w = x.shape
    rows = gemm_bias_act(_rows(x), packed.contiguous(), activation,
                         None if residual is None else _rows(residual), **blocks)
    return rows.view(n, h, w, -1).permute(0, 3, 1, 2)
