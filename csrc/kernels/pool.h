// Channel-wise reductions and scaling over NHWC pixel rows (float32): the pieces of
// global average pooling and squeeze-and-excitation. `stride` is the distance between
// pixels (the tensor's channel count); `channels` is how many are processed (a block).
#pragma once
#include <cstdint>

namespace mk {

// sum[c] += sum over p < pixels of x[p * stride + c], c < channels
using ChannelSumKernel = void (*)(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                                  float* sum);
// y[p * stride + c] = x[p * stride + c] * scale[c], c < channels
using ChannelScaleKernel = void (*)(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                                    const float* scale, float* y);

void channel_sum_scalar(const float* x, int64_t pixels, int64_t channels, int64_t stride, float* sum);
void channel_scale_scalar(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                          const float* scale, float* y);
#if defined(MK_HAVE_AVX2)
void channel_sum_avx2(const float* x, int64_t pixels, int64_t channels, int64_t stride, float* sum);
void channel_scale_avx2(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                        const float* scale, float* y);
#endif
#if defined(MK_HAVE_NEON)
void channel_sum_neon(const float* x, int64_t pixels, int64_t channels, int64_t stride, float* sum);
void channel_scale_neon(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                        const float* scale, float* y);
#endif

}  // namespace mk
