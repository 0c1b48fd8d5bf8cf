"""Global average pool and the squeeze-excite channel scale in Triton (NHWC)."""
import torch
import triton
import triton.language as tl


@triton.jit
def _pool_kernel(x_ptr, y_ptr, P, C, inv, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n = tl.program_id(0)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    acc = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        offs = (n * P + p).to(tl.int64)[:, None] * C + c[None, :]
        v = tl.load(x_ptr + offs, mask=(p < P)[:, None] & c_ok[None, :], other=0.0)
        acc += tl.sum(v.to(tl.float32), axis=0)
    tl.store(y_ptr + n * C + c, (acc * inv).to(y_ptr.dtype.element_ty), mask=c_ok)


@triton.jit
def _scale_kernel(x_ptr, s_ptr, y_ptr, P, C, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n = tl.program_id(0)
    p = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    ok = (p < P)[:, None] & (c < C)[None, :]
    offs = (n * P + p).to(tl.int64)[:, None] * C + c[None, :]
    s = tl.load(s_ptr + n * C + c, mask=c < C, other=0.0).to(tl.float32)
    v = tl.load(x_ptr + offs, mask=ok, other=0.0).to(tl.float32) * s[None, :]
    tl.store(y_ptr + offs, v.to(y_ptr.dtype.element_ty), mask=ok)


def pooled_rows(x, block_p=32, block_c=64):
    """[N, C, H, W] channels-last -> [N, C] means (x's dtype, float32 accumulation)."""
    n, c, h, w = x.shape
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.empty((n, c), dtype=x.dtype, device=x.device)
    _pool_kernel[(n, triton.cdiv(c, block_c))](x, y, h * w, c, 1.0 / (h * w), BLOCK_P=block_p, BLOCK_C=block_c)
    return y


def global_avgpool(x, **blocks):
    n, c = x.shape[:2]
    return pooled_rows(x, **blocks).view(n, 1, 1, c).permute(0, 3, 1, 2)


def scale_channels(x, scale, block_p=32, block_c=64):
    """y = x * scale[n, c] (x channels-last [N, C, H, W], scale [N, C])."""
    n, c, h, w = x.shape
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.empty_like(x, memory_format=torch.channels_last)
    grid = (n, triton.cdiv(h * w, block_p), triton.cdiv(c, block_c))
    _scale_kernel[grid](x, scale.contiguous(), y, h * w, c, BLOCK_P=block_p, BLOCK_C=block_c)
    return y
