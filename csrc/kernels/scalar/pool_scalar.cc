#include "../pool.h"

namespace mk {

void channel_sum_scalar(const float* x, int64_t pixels, int64_t channels, int64_t stride, float* sum) {
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t c = 0; c < channels; ++c) sum[c] += x[p * stride + c];
  }
}

void channel_scale_scalar(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                          const float* scale, float* y) {
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t c = 0; c < channels; ++c) y[p * stride + c] = x[p * stride + c] * scale[c];
  }
}

}  // namespace mk
