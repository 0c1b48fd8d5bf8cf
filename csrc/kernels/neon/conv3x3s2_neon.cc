// NEON stem tiles (kernels/conv3x3s2_tile.h): 24 pixels x 4 channels or 12 x 8, 24 q
// accumulators (of 32 registers). NEON has no masked loads: a column tail goes through a
// 4-float copy, so nothing past the weights' or the output's last channel is touched.
#include <arm_neon.h>

#include <algorithm>

#include "../conv3x3s2_tile.h"
#include "activation_neon.h"

namespace mk {

namespace {

struct Ops {
  using V = float32x4_t;
  using Mask = int;  // lanes in use, 1..4
  static constexpr int kLanes = 4, kRows1 = 24, kRows2 = 12;
  static V load(const float* p, Mask m) {
    if (m == 4) return vld1q_f32(p);
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::copy_n(p, m, lanes);
    return vld1q_f32(lanes);
  }
  static void store(float* p, V v, Mask m) {
    if (m == 4) return vst1q_f32(p, v);
    float lanes[4];
    vst1q_f32(lanes, v);
    std::copy_n(lanes, m, p);
  }
  static V bcast(const float* p) { return vld1q_dup_f32(p); }
  static V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  template <Activation A>
  static V act(V v) { return activation_neon(v, A); }
  static Mask all() { return 4; }
  static Mask tail(int64_t n) { return static_cast<int>(std::min<int64_t>(n, 4)); }
};

}  // namespace

bool conv3x3s2_c3_neon(const StemRow& r) { return stem_tile::row<Ops>(r); }

}  // namespace mk
