#include "../runtime/check.h"
#include "inverted_residual.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "dwconv.h"
#include "pwconv.h"
#include "squeeze_excite.h"
#include "../runtime/tuning.h"
#include "../runtime/thread_pool.h"
#include "../runtime/mirrored_buffer.h"
#include "../runtime/scratch.h"

namespace mk {

namespace {

std::atomic<BandPhaseTimes*> band_phase_sink{nullptr};
using PhaseClock = std::chrono::steady_clock;

// Adds the time since t to *sum and restarts t.
void lap(double* sum, PhaseClock::time_point& t) {
  const PhaseClock::time_point now = PhaseClock::now();
  *sum += std::chrono::duration<double>(now - t).count();
  t = now;
}

DwconvParams dw_params(const InvertedResidualArgs& a) {
  return DwconvParams{a.height, a.width, a.hidden, a.out_height, a.out_width, a.kernel, a.kernel,
                      a.stride, a.stride, a.pad_top, a.pad_left, 1, 1, a.dw_act};
}

GemmParams project_params(const InvertedResidualArgs& a) {
  return GemmParams{a.hidden, a.out_channels, a.project_act, a.panels};
}

// residual: the block input's rows for these pixels, or null. weights: the project's
// (a.project, or the copy an SE gate was folded into).
void project(const InvertedResidualArgs& a, const float* d, int64_t first_pixel, int64_t pixels,
             const float* residual, Isa isa, const float* weights) {
  pwconv_bn_act(PwconvArgs{d, weights, residual, a.y + first_pixel * a.out_channels, pixels, project_params(a)}, isa);
}

// An SE block's gate scales the depthwise output's channels, which are the project's K:
// it can multiply the project's weight rows instead. Chosen where the weights are under a
// quarter of an image's depthwise output (v3's 28x28 blocks: 5.8k floats against 94k),
// since the scale pass reads and writes that output once more; the weights come from L3
// either way, but in a separate pass they would not overlap the GEMM's FMAs.
bool fold_gate(const InvertedResidualArgs& a) {
  return a.se_fc1 && tuning().ir_se_fold &&
         4 * gemm_weights_size(project_params(a)) <= a.out_height * a.out_width * a.hidden;
}

// The project's weights with image n's gate folded in, for every image: [batch][size].
const float* folded_weights(const InvertedResidualArgs& a, const float* gate) {
  thread_local FloatBuffer folded_buf;
  const GemmParams p = project_params(a);
  const int64_t size = gemm_weights_size(p);
  float* w = scratch(folded_buf, a.batch * size);
  for (int64_t n = 0; n < a.batch; ++n) gemm_scale_rows(p, a.project, gate + n * a.hidden, w + n * size);
  return w;
}

// The expand's GEMM parameters; `first` marks the block's first expand call, which
// streams into L2 (gemm_stream_hint) what the block reads next from L3: an SE block's
// FC1 weights (ir_stream_se; its excitation is a GEMV that waits on L3 at ~28 GB/s a
// core, 0.9 MB for v3-large's 7x7 blocks), else the project's first 64-column tile.
GemmParams expand_params(const InvertedResidualArgs& a, bool first) {
  GemmParams g{a.in_channels, a.hidden, a.expand_act, a.panels};
  if (first && a.panels && a.se_fc1 && tuning().ir_stream_se) {
    g.stream_after = reinterpret_cast<const char*>(a.se_fc1);
    g.stream_after_bytes = gemm_panels_size(a.hidden, a.se_channels) * static_cast<int64_t>(sizeof(float));
  } else if (first && a.panels) {
    g.stream_after = reinterpret_cast<const char*>(a.project);
    g.stream_after_bytes = std::min<int64_t>(4, (a.out_channels + kGemmPanel - 1) / kGemmPanel) * (a.hidden + 1) *
                           kGemmPanel * static_cast<int64_t>(sizeof(float));
  }
  return g;
}

const float* residual_rows(const InvertedResidualArgs& a, int64_t first_pixel) {
  if (a.residual_x) return a.residual_x + first_pixel * a.out_channels;
  return a.residual ? a.x + first_pixel * a.in_channels : nullptr;
}

// Output rows per band: ~384 output pixels, while the band's expanded window
// ((band - 1) * stride + kernel rows) stays within half the L2 and 384 KiB. At stride 1
// the window keeps kernel - 1 rows from the last band (moved to its top), so short bands
// move as many bytes as they expand: 64-pixel bands measured 2-6% slower on the 56x56 and
// 28x28 blocks, the same on 14x14 and 7x7 (bench/NOTES.md).
int64_t band_rows(const InvertedResidualArgs& a) {
  static const int64_t window_bytes = std::min<int64_t>(384 << 10, l2_cache_bytes() / 2);
  const int64_t pixels = a.band_pixels > 0 ? a.band_pixels : 384;
  int64_t band = std::max<int64_t>(1, (pixels + a.out_width - 1) / a.out_width);
  const int64_t row_bytes = a.width * a.hidden * static_cast<int64_t>(sizeof(float));
  const int64_t min_band = tuning().ir_band_pairs ? 2 : 1;
  const auto window_rows = [&](int64_t b) {
    const int64_t rows = (b - 1) * a.stride + a.kernel;
    return tuning().ir_window_clip ? std::min(rows, a.height) : rows;
  };
  while (band > min_band && window_rows(band) * row_bytes > window_bytes) --band;
  return std::min(band, a.out_height);
}

// The next depthwise's (InvertedResidualArgs::next_dw) first output row whose input rows,
// clipped to its input, start at or after block output row lo, and the end of those whose
// input rows end at or before row hi: a job that projected rows [lo, hi) computes the rows
// between the two, and no row falls in two jobs.
int64_t next_dw_from(const DwconvParams& p, int64_t lo) {
  return lo <= 0 ? 0 : std::min(p.out_height, (lo + p.pad_top + p.stride_h - 1) / p.stride_h);
}
int64_t next_dw_to(const DwconvParams& p, int64_t hi) {
  if (hi >= p.height) return p.out_height;
  const int64_t last = hi + p.pad_top - (static_cast<int64_t>(p.dilation_h) * (p.kernel_h - 1) + 1);
  return last < 0 ? 0 : std::min(p.out_height, last / p.stride_h + 1);
}

// The next depthwise's output rows [r0, r1) of image n.
void next_dw_rows(const DwconvArgs& d, Isa isa, int64_t n, int64_t r0, int64_t r1) {
  if (r1 <= r0) return;
  const DwconvParams& p = d.p;
  dwconv_rows(isa, p, d.x + n * p.height * p.width * p.channels, d.packed,
              d.y + (n * p.out_height + r0) * p.out_width * p.channels, r0, r1);
}

// Output rows [oy_begin, oy_end) of image n. dw_out null: project each band into y;
// otherwise write the depthwise rows to dw_out ([batch][out_h][out_w][hidden]) for SE,
// and, with sums, add each band's channel sums to sums while its rows are in cache.
void row_bands(const InvertedResidualArgs& a, Isa isa, int64_t n, int64_t oy_begin, int64_t oy_end, int64_t band,
               float* dw_out, float* sums = nullptr) {
  thread_local FloatBuffer window_buf, band_buf;  // per worker thread, reused
  thread_local MirroredBuffer ring;
  const int64_t row_in = a.width * a.in_channels, row_hidden = a.width * a.hidden;
  const int64_t out_row = a.out_width * a.hidden;
  const float* image = a.stem ? nullptr : a.x + n * a.height * row_in;
  // The expanded (or stem) rows' window; without either the depthwise reads x itself.
  // In a ring (ir_ring_window: a buffer mapped twice, so the window is contiguous from
  // any start), sliding to the next band moves its start; otherwise the rows the bands
  // share are moved to the top.
  const bool produce = a.expand || a.stem;
  const int64_t window_floats = ((band - 1) * a.stride + a.kernel) * row_hidden;
  const bool in_ring = produce && tuning().ir_ring_window && ring.ensure(window_floats);
  float* window = in_ring ? ring.data() : produce ? scratch(window_buf, window_floats) : nullptr;
  float* band_out = dw_out ? nullptr : scratch(band_buf, band * out_row);
  int64_t base = 0, have = 0;  // the window holds expanded input rows [base, have)
  int64_t next_done = a.next_dw ? next_dw_from(a.next_dw->p, oy_begin) : 0;  // next_dw's rows so far
  BandPhaseTimes* const timing = band_phase_sink.load(std::memory_order_relaxed);
  PhaseClock::time_point t;
  for (int64_t oy0 = oy_begin; oy0 < oy_end; oy0 += band) {
    const int64_t oy1 = std::min(oy_end, oy0 + band);
    // Input rows the band's taps touch, clipped to the image (the rest is padding).
    const int64_t lo = std::max<int64_t>(0, oy0 * a.stride - a.pad_top);
    const int64_t hi = std::max(lo, std::min(a.height, (oy1 - 1) * a.stride - a.pad_top + a.kernel));
    DwconvParams p = dw_params(a);
    const float* src = image;
    int64_t oy_shift = 0;
    if (produce) {
      int64_t start = lo;
      if (have > lo && lo >= base) {  // slide: keep the rows this band shares with the last
        if (in_ring) {
          window = ring.data() + (window - ring.data() + (lo - base) * row_hidden) % ring.size();
        } else {
          std::memmove(window, window + (lo - base) * row_hidden, (have - lo) * row_hidden * sizeof(float));
        }
        start = have;
      }
      base = lo;
      if (timing) t = PhaseClock::now();
      if (hi > start && a.stem) {
        conv_rows(*a.stem, isa, n, start, hi, window + (start - base) * row_hidden);
      } else if (hi > start) {
        pwconv_bn_act(PwconvArgs{image + start * row_in, a.expand, nullptr, window + (start - base) * row_hidden,
                                 (hi - start) * a.width, expand_params(a, oy0 == oy_begin)},
                      isa);
      }
      have = std::max(hi, start);
      if (timing) lap(&timing->expand_s, t);
      // The window as an image of its own: rows [base, hi) of the input are its rows
      // [0, hi - base); output row oy is its row oy - oy0 with the padding shifted so
      // every tap lands on the same input row as before (never negative: see base).
      p.height = hi - base;
      p.pad_top = static_cast<int>(a.pad_top + base - oy0 * a.stride);
      src = window;
      oy_shift = oy0;
    }
    // The band's rows are consecutive in dst. p.height may be 0 (the band is all
    // padding): the kernels then read no row.
    float* dst = dw_out ? dw_out + (n * a.out_height + oy0) * out_row : band_out;
    if (timing) t = PhaseClock::now();
    dwconv_rows(isa, p, src, a.dw, dst, oy0 - oy_shift, oy1 - oy_shift);
    if (timing) lap(&timing->dw_s, t);
    if (sums) {
      channel_sum_kernel(isa)(dst, (oy1 - oy0) * a.out_width, a.hidden, a.hidden, sums);
      if (timing) lap(&timing->se_s, t);
    }
    if (dw_out) continue;
    // A stem block's residual is its input rows, in the window: stride 1, so output row oy
    // is input row oy, inside [base, have) (inverted_residual keeps pad_top < kernel).
    const int64_t first = (n * a.out_height + oy0) * a.out_width;
    const float* residual = a.stem && a.residual ? window + (oy0 - base) * row_in : residual_rows(a, first);
    project(a, band_out, first, (oy1 - oy0) * a.out_width, residual, isa, a.project);
    if (timing) lap(&timing->project_s, t);
    if (a.next_dw) {
      const int64_t to = std::max(next_done, next_dw_to(a.next_dw->p, oy1));
      next_dw_rows(*a.next_dw, isa, n, next_done, to);
      next_done = to;
      if (timing) lap(&timing->dw_s, t);
    }
  }
}

// Input rows expanded more than once when each image's output rows are cut in `splits`.
int64_t halo_rows(const InvertedResidualArgs& a, int64_t splits) {
  int64_t rows = 0;
  for (int64_t part = 0; part < splits; ++part) {
    const int64_t oy0 = a.out_height * part / splits, oy1 = a.out_height * (part + 1) / splits;
    if (oy0 == oy1) continue;
    const int64_t lo = std::max<int64_t>(0, oy0 * a.stride - a.pad_top);
    rows += std::max<int64_t>(0, std::min(a.height, (oy1 - 1) * a.stride - a.pad_top + a.kernel) - lo);
  }
  return std::max<int64_t>(0, rows - a.height);
}

void per_op(const InvertedResidualArgs& a, Isa isa) {
  thread_local FloatBuffer expanded_buf, dw_buf;
  const int64_t in_pixels = a.batch * a.height * a.width;
  const int64_t out_pixels = a.batch * a.out_height * a.out_width;
  const float* expanded = a.x;
  if (a.expand) {
    float* e = scratch(expanded_buf, in_pixels * a.hidden);
    pwconv_bn_act(PwconvArgs{a.x, a.expand, nullptr, e, in_pixels, expand_params(a, true)}, isa);
    expanded = e;
  }
  float* d = scratch(dw_buf, out_pixels * a.hidden);
  DwconvArgs dw;
  dw.x = expanded;
  dw.packed = a.dw;
  dw.y = d;
  dw.batch = a.batch;
  dw.p = dw_params(a);
  dwconv_bn_act(dw, isa);
  if (fold_gate(a)) {
    thread_local FloatBuffer se_buf;
    const int64_t pixels = a.out_height * a.out_width;
    float* pooled = scratch(se_buf, a.batch * (2 * a.hidden + a.se_channels));
    float* gate = pooled + a.batch * a.hidden;
    global_avgpool(d, a.batch, pixels, a.hidden, pooled, isa);
    excitation(pooled, a.se_fc1, a.se_fc2, a.batch, a.hidden, a.se_channels, a.se_act, a.se_gate,
               gate + a.batch * a.hidden, gate, isa, a.panels);
    const float* w = folded_weights(a, gate);
    const int64_t size = gemm_weights_size(project_params(a));
    for (int64_t n = 0; n < a.batch; ++n) {
      project(a, d + n * pixels * a.hidden, n * pixels, pixels, residual_rows(a, n * pixels), isa, w + n * size);
    }
    return;
  }
  if (a.se_fc1) {
    SqueezeExciteArgs se{d, a.se_fc1, a.se_fc2, d, a.batch, a.out_height * a.out_width, a.hidden,
                         a.se_channels, a.se_act, a.se_gate};
    se.panels = a.panels;
    squeeze_excite(se, isa);
  }
  project(a, d, 0, out_pixels, residual_rows(a, 0), isa, a.project);
}

}  // namespace

void set_band_phase_sink(BandPhaseTimes* sink) { band_phase_sink.store(sink, std::memory_order_relaxed); }

void inverted_residual(const InvertedResidualArgs& a, Isa isa) {
  require((a.x || a.stem) && a.dw && a.project && a.y, "inverted_residual: null buffer");
  require(a.batch >= 1 && a.height >= 1 && a.width >= 1 && a.in_channels >= 1 && a.hidden >= 1 &&
              a.out_channels >= 1 && a.out_height >= 1 && a.out_width >= 1,
          "inverted_residual: sizes must be >= 1");
  require(a.kernel == 3 || a.kernel == 5, "inverted_residual: kernel must be 3 or 5");
  require(a.out_height == conv_out_size(a.height, a.kernel, a.stride, a.pad_top, a.pad_bottom, 1, "height") &&
              a.out_width == conv_out_size(a.width, a.kernel, a.stride, a.pad_left, a.pad_right, 1, "width"),
          "inverted_residual: output size does not match kernel, stride and padding");
  require(a.expand || a.hidden == a.in_channels, "inverted_residual: without expand, hidden must equal in_channels");
  require((a.se_fc1 == nullptr) == (a.se_fc2 == nullptr), "inverted_residual: se_fc1 and se_fc2 go together");
  require(!a.se_fc1 || a.se_channels >= 1, "inverted_residual: SE needs squeeze channels >= 1");
  require(!a.residual || (a.out_height == a.height && a.out_width == a.width && a.out_channels == a.in_channels),
          "inverted_residual: residual needs the output shape to equal the input shape");
  if (a.stem) {
    const ConvArgs& c = *a.stem;
    require(c.x, "inverted_residual: null stem input");
    conv_check(c);
    require(!a.expand, "inverted_residual: a stem needs a block without expand");
    require(c.batch == a.batch && c.out_height == a.height && c.out_width == a.width && c.out_channels == a.in_channels,
            "inverted_residual: the stem's output must be the block's input");
  }
  if (a.next_dw) {
    const DwconvArgs& d = *a.next_dw;
    dwconv_check(d);
    require(d.x == a.y && d.batch == a.batch && d.p.height == a.out_height && d.p.width == a.out_width &&
                d.p.channels == a.out_channels,
            "inverted_residual: next_dw must read the block's output");
    const int64_t y_size = a.batch * a.out_height * a.out_width * a.out_channels;
    const int64_t d_size = d.batch * d.p.out_height * d.p.out_width * d.p.channels;
    require(d.y + d_size <= a.y || a.y + y_size <= d.y, "inverted_residual: next_dw's output overlaps the block's");
  }
  for (Activation act : {a.expand_act, a.dw_act, a.se_act, a.se_gate, a.project_act}) {
    const int code = static_cast<int>(act);
    require(code >= 0 && code < kNumActivations,
            [&] { return "inverted_residual: unknown activation code " + std::to_string(code); });
  }
  // Jobs: contiguous output-row ranges; one per image when the batch fills the threads,
  // else each image split so batch 1 uses every thread (halo rows are expanded twice).
  const int64_t threads = ThreadPool::instance().num_threads();
  const int64_t splits = std::min(a.out_height, std::max<int64_t>(1, (threads + a.batch - 1) / a.batch));
  // On small maps the halo would be a large share of each part (7x7, k = 5, 2 parts:
  // 11 expanded rows instead of 7): the per-op schedule splits its GEMMs by columns
  // instead, with no recomputation.
  // Few output rows that do not share evenly (7 over 2 threads: 4 + 3, the slower part
  // 14% over an even split) go per-op too: its GEMMs split their rows or columns evenly.
  // Not at stride 2 (ir_uneven_s2_bands): the 14x14 -> 7x7 blocks ran 1.03-1.19x faster in
  // bands at 2 threads (v2, v3-large, v3-small; AVX2, Zen 3), the per-op schedule's three
  // barriers and whole-weight reads costing more than the 3 + 4 rows' imbalance.
  const bool uneven_rows = tuning().ir_uneven_by_op && splits > 1 && a.out_height % splits != 0 &&
                           a.out_height < 4 * splits && !(a.stride > 1 && tuning().ir_uneven_s2_bands);
  // Parts of an image over several threads, where a part's share of the expanded image
  // fits the L2 (14x14 and 28x28 maps): each part expands only its own input rows into
  // one shared image, and its bands then read their halo rows from the other part's, as a
  // block without expand (ir_shared_expand). Otherwise each part expands its halo rows
  // again: a 14-row map over 2 threads expands 16 rows. With no halo expanded twice, a
  // large halo no longer sends the block per-op (ir_shared_halo_bands).
  const int64_t halo = halo_rows(a, splits), part_rows = (a.height + splits - 1) / splits;
  const bool shared_expand = tuning().ir_shared_expand && splits > 1 && a.expand && !a.stem && halo > 0 &&
                             part_rows * a.width * a.hidden * static_cast<int64_t>(sizeof(float)) <= l2_cache_bytes();
  const bool halo_by_op = halo * 4 > a.height && !(shared_expand && tuning().ir_shared_halo_bands);
  const bool by_op = a.per_op || (a.expand && (halo_by_op || uneven_rows));
  // A stem whose rows the bands cannot take from their window (per-op; a residual that SE's
  // second pass or an unusual top padding would need again): its output stored whole first.
  if (a.stem && (by_op || (a.residual && (a.se_fc1 || a.pad_top >= a.kernel)))) {
    thread_local FloatBuffer stem_buf;
    ConvArgs c = *a.stem;
    c.y = scratch(stem_buf, a.batch * a.height * a.width * a.in_channels);
    conv_bn_act(c, isa);
    InvertedResidualArgs b = a;
    b.stem = nullptr;
    b.x = c.y;
    inverted_residual(b, isa);
    return;
  }
  if (a.next_dw && (by_op || a.se_fc1 || !tuning().ir_next_dw)) {  // after the block, as an op
    InvertedResidualArgs b = a;
    b.next_dw = nullptr;
    inverted_residual(b, isa);
    dwconv_bn_act(*a.next_dw, isa);
    return;
  }
  if (by_op) {
    per_op(a, isa);
    return;
  }
  if (shared_expand) {
    thread_local FloatBuffer expanded_buf;
    float* e = scratch(expanded_buf, a.batch * a.height * a.width * a.hidden);
    ThreadPool::instance().parallel_for(a.batch * splits, [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        const int64_t n = job / splits, part = job % splits;
        const int64_t r0 = a.height * part / splits, r1 = a.height * (part + 1) / splits;
        if (r0 == r1) continue;
        const int64_t first = (n * a.height + r0) * a.width;
        pwconv_bn_act(PwconvArgs{a.x + first * a.in_channels, a.expand, nullptr, e + first * a.hidden,
                                 (r1 - r0) * a.width, expand_params(a, false)},
                      isa);
      }
    });
    InvertedResidualArgs b = a;
    b.x = e;
    b.expand = nullptr;
    b.in_channels = a.hidden;
    b.residual = false;
    b.residual_x = a.residual ? a.x : nullptr;
    inverted_residual(b, isa);
    return;
  }
  const int64_t band = std::min(band_rows(a), (a.out_height + splits - 1) / splits);
  const int64_t jobs = a.batch * splits;
  auto rows_of = [&](int64_t job, int64_t& n, int64_t& oy_begin, int64_t& oy_end) {
    n = job / splits;
    const int64_t part = job % splits;
    oy_begin = a.out_height * part / splits;
    oy_end = a.out_height * (part + 1) / splits;
  };
  if (!a.se_fc1) {
    ThreadPool::instance().parallel_for(jobs, [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        int64_t n, oy_begin, oy_end;
        rows_of(job, n, oy_begin, oy_end);
        if (oy_begin < oy_end) row_bands(a, isa, n, oy_begin, oy_end, band, nullptr);
      }
    });
    if (a.next_dw) {  // the next depthwise's rows that read two jobs' rows, once both ran
      // (the last part ends at the block's last row, so its job took the rows to the end)
      const DwconvParams& p = a.next_dw->p;
      for (int64_t n = 0; n < a.batch; ++n) {
        int64_t upto = 0;
        for (int64_t part = 0; part < splits; ++part) {
          int64_t image, oy_begin, oy_end;
          rows_of(n * splits + part, image, oy_begin, oy_end);
          const int64_t from = next_dw_from(p, oy_begin);
          next_dw_rows(*a.next_dw, isa, n, upto, from);
          upto = std::max({upto, from, next_dw_to(p, oy_end)});
        }
      }
    }
    return;
  }
  // SE: pass 1 writes the depthwise output and each job's channel sums; the excitation
  // runs on the pooled vector; pass 2 scales each job's rows (still in its cache) and
  // projects them. Two passes over jobs instead of pool / FC / scale / project passes.
  thread_local FloatBuffer dw_buf, sums_buf, se_buf;
  const int64_t out_pixels = a.out_height * a.out_width;
  float* dw_out = scratch(dw_buf, a.batch * out_pixels * a.hidden);
  float* sums = scratch(sums_buf, jobs * a.hidden);
  float* pooled = scratch(se_buf, a.batch * (2 * a.hidden + a.se_channels));
  float* gate = pooled + a.batch * a.hidden;
  float* squeezed = gate + a.batch * a.hidden;
  const ChannelSumKernel sum = channel_sum_kernel(isa);
  BandPhaseTimes* const timing = band_phase_sink.load(std::memory_order_relaxed);
  ThreadPool::instance().parallel_for(jobs, [&](int64_t begin, int64_t end) {
    PhaseClock::time_point t;
    for (int64_t job = begin; job < end; ++job) {
      int64_t n, oy_begin, oy_end;
      rows_of(job, n, oy_begin, oy_end);
      float* job_sums = sums + job * a.hidden;
      std::fill(job_sums, job_sums + a.hidden, 0.0f);
      if (oy_begin == oy_end) continue;
      // The channel sums band by band, each band's rows still in L1/L2 (ir_se_band_sums),
      // or over the job's rows after (a strided walk of 8 channels at a time over rows
      // that no longer fit the L2: 14x14x672 is 527 KB).
      const bool band_sums = tuning().ir_se_band_sums;
      row_bands(a, isa, n, oy_begin, oy_end, band, dw_out, band_sums ? job_sums : nullptr);
      if (band_sums) continue;
      if (timing) t = PhaseClock::now();
      sum(dw_out + (n * out_pixels + oy_begin * a.out_width) * a.hidden, (oy_end - oy_begin) * a.out_width,
          a.hidden, a.hidden, job_sums);
      if (timing) lap(&timing->se_s, t);
    }
  });
  PhaseClock::time_point t;
  if (timing) t = PhaseClock::now();
  const float inv = 1.0f / static_cast<float>(out_pixels);
  for (int64_t n = 0; n < a.batch; ++n) {
    float* p = pooled + n * a.hidden;
    std::fill(p, p + a.hidden, 0.0f);
    for (int64_t part = 0; part < splits; ++part) {
      const float* js = sums + (n * splits + part) * a.hidden;
      for (int64_t c = 0; c < a.hidden; ++c) p[c] += js[c];
    }
    for (int64_t c = 0; c < a.hidden; ++c) p[c] *= inv;
  }
  excitation(pooled, a.se_fc1, a.se_fc2, a.batch, a.hidden, a.se_channels, a.se_act, a.se_gate, squeezed, gate,
             isa, a.panels);
  if (timing) lap(&timing->se_s, t);
  // The gate folded into the project's weights (one copy per image), or scaling each
  // job's rows before their project.
  const float* folded = fold_gate(a) ? folded_weights(a, gate) : nullptr;
  const int64_t folded_size = gemm_weights_size(project_params(a));
  if (timing && folded) lap(&timing->scale_s, t);
  const ChannelScaleKernel scale = channel_scale_kernel(isa);
  ThreadPool::instance().parallel_for(jobs, [&](int64_t begin, int64_t end) {
    PhaseClock::time_point t;
    for (int64_t job = begin; job < end; ++job) {
      int64_t n, oy_begin, oy_end;
      rows_of(job, n, oy_begin, oy_end);
      if (oy_begin == oy_end) continue;
      const int64_t first = n * out_pixels + oy_begin * a.out_width, pixels = (oy_end - oy_begin) * a.out_width;
      float* rows = dw_out + first * a.hidden;
      if (timing) t = PhaseClock::now();
      if (!folded) scale(rows, pixels, a.hidden, a.hidden, gate + n * a.hidden, rows);
      if (timing) lap(&timing->scale_s, t);
      project(a, rows, first, pixels, residual_rows(a, first), isa, folded ? folded + n * folded_size : a.project);
      if (timing) lap(&timing->project_s, t);
    }
  });
}

}  // namespace mk
