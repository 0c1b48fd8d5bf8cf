#include "../runtime/check.h"
#include "squeeze_excite.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/pool.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "pwconv.h"
#include "../runtime/scratch.h"

namespace mk {

ChannelSumKernel channel_sum_kernel(Isa isa) {
#if defined(MK_HAVE_AVX2)
  // Memory-bound: the AVX2 kernels serve AVX-512 CPUs too.
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512) return channel_sum_avx2;
#endif
#if defined(MK_HAVE_NEON)
  if (isa == Isa::kNeon) return channel_sum_neon;
#endif
  (void)isa;
  return channel_sum_scalar;
}

ChannelScaleKernel channel_scale_kernel(Isa isa) {
#if defined(MK_HAVE_AVX2)
  // Memory-bound: the AVX2 kernels serve AVX-512 CPUs too.
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512) return channel_scale_avx2;
#endif
#if defined(MK_HAVE_NEON)
  if (isa == Isa::kNeon) return channel_scale_neon;
#endif
  (void)isa;
  return channel_scale_scalar;
}

namespace {

// Channel blocks let batch 1 use every thread; 64 floats = 4 cache lines per pixel.
constexpr int64_t kChannelBlock = 64;

}  // namespace

void excitation(const float* pooled, const float* fc1, const float* fc2, int64_t batch, int64_t channels,
                int64_t squeeze, Activation act, Activation gate, float* hidden, float* gate_out, Isa isa,
                bool panels) {
  pwconv_bn_act(PwconvArgs{pooled, fc1, nullptr, hidden, batch, GemmParams{channels, squeeze, act, panels}}, isa);
  pwconv_bn_act(PwconvArgs{hidden, fc2, nullptr, gate_out, batch, GemmParams{squeeze, channels, gate, panels}}, isa);
}

void global_avgpool(const float* x, int64_t batch, int64_t pixels, int64_t channels, float* pooled, Isa isa) {
  require(x && pooled, "global_avgpool: null buffer");
  require(batch >= 1 && pixels >= 1 && channels >= 1, "global_avgpool: sizes must be >= 1");
  const ChannelSumKernel sum = channel_sum_kernel(isa);
  const float inv = 1.0f / static_cast<float>(pixels);
  const int64_t threads = ThreadPool::instance().threads_here();
  // Fewer images than threads: each thread sums all channels of a contiguous pixel range,
  // the rows the layer before wrote on the same core (the pool's front/back split), and
  // the parts are added after. A channel-block split made every thread read its channels
  // of every pixel: half the lines came from the other core's L2 (~15 us of a 14x14x240
  // SE at 2 threads, where the whole pool takes ~2 us on one; pool_pixel_split).
  if (threads > batch && tuning().pool_pixel_split) {
    thread_local FloatBuffer partial_buf;
    const int64_t parts = std::min(pixels, (threads + batch - 1) / batch);
    float* partial = scratch(partial_buf, batch * parts * channels);
    ThreadPool::instance().parallel_for(batch * parts, [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        const int64_t n = job / parts, part = job % parts;
        const int64_t p0 = pixels * part / parts, p1 = pixels * (part + 1) / parts;
        float* out = partial + job * channels;
        std::fill(out, out + channels, 0.0f);
        sum(x + (n * pixels + p0) * channels, p1 - p0, channels, channels, out);
      }
    });
    for (int64_t n = 0; n < batch; ++n) {
      float* out = pooled + n * channels;
      std::copy(partial + n * parts * channels, partial + (n * parts + 1) * channels, out);
      for (int64_t part = 1; part < parts; ++part) {
        const float* ps = partial + (n * parts + part) * channels;
        for (int64_t c = 0; c < channels; ++c) out[c] += ps[c];
      }
      for (int64_t c = 0; c < channels; ++c) out[c] *= inv;
    }
    return;
  }
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
  ThreadPool::instance().parallel_for(batch * blocks, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / blocks, c0 = (job % blocks) * kChannelBlock;
      const int64_t nc = std::min(kChannelBlock, channels - c0);
      float* out = pooled + n * channels + c0;
      std::fill(out, out + nc, 0.0f);
      sum(x + n * pixels * channels + c0, pixels, nc, channels, out);
      for (int64_t c = 0; c < nc; ++c) out[c] *= inv;
    }
  });
}

void squeeze_excite(const SqueezeExciteArgs& a, Isa isa) {
  require(a.x && a.fc1 && a.fc2 && a.y, "squeeze_excite: null buffer");
  require(a.batch >= 1 && a.pixels >= 1 && a.channels >= 1 && a.squeeze >= 1,
          "squeeze_excite: sizes must be >= 1");
  for (Activation act : {a.act, a.gate}) {
    const int code = static_cast<int>(act);
    require(code >= 0 && code < kNumActivations,
            [&] { return "squeeze_excite: unknown activation code " + std::to_string(code); });
  }
  // Per calling thread, reused: no allocation per call.
  thread_local FloatBuffer pooled_buf, hidden_buf, gate_buf;
  float* pooled = scratch(pooled_buf, a.batch * a.channels);
  float* gate = scratch(gate_buf, a.batch * a.channels);
  global_avgpool(a.x, a.batch, a.pixels, a.channels, pooled, isa);
  excitation(pooled, a.fc1, a.fc2, a.batch, a.channels, a.squeeze, a.act, a.gate,
             scratch(hidden_buf, a.batch * a.squeeze), gate, isa, a.panels);
  const ChannelScaleKernel scale = channel_scale_kernel(isa);
  const int64_t rows_per_job = std::max<int64_t>(1, 4096 / a.channels);
  const int64_t jobs_per_image = (a.pixels + rows_per_job - 1) / rows_per_job;
  ThreadPool::instance().parallel_for(a.batch * jobs_per_image, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / jobs_per_image, p0 = (job % jobs_per_image) * rows_per_job;
      const int64_t np = std::min(rows_per_job, a.pixels - p0);
      const int64_t offset = (n * a.pixels + p0) * a.channels;
      scale(a.x + offset, np, a.channels, a.channels, gate + n * a.channels, a.y + offset);
    }
  });
}

}  // namespace mk
