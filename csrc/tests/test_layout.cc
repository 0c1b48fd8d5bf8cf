// NCHW -> NHWC: every element lands where the plain index formula puts it, for the
// specialised channel counts (1, 3) and the blocked general path, over pixel counts that
// cross the 4096-pixel task chunks, on 1-3 threads, without writing past the output.
#include <limits>
#include <stdexcept>
#include <vector>

#include "../ops/layout.h"
#include "../runtime/thread_pool.h"
#include "harness.h"

TEST_CASE("layout: nchw_to_nhwc matches the index formula") {
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  for (int threads : {1, 2, 3}) {
    pool.set_num_threads(threads);
    for (int64_t batch : {1, 2}) {
      for (int64_t channels : {1, 3, 5, 64, 70}) {
        for (int64_t pixels : {1, 63, 4096, 4097, 9000}) {
          const int64_t size = batch * channels * pixels;
          std::vector<float> x(size);
          for (int64_t i = 0; i < size; ++i) x[i] = static_cast<float>(i);
          // One guard element past the end: it must stay NaN.
          std::vector<float> y(size + 1, std::numeric_limits<float>::quiet_NaN());
          mk::nchw_to_nhwc(x.data(), batch, channels, pixels, y.data());
          bool ok = y[size] != y[size];
          for (int64_t b = 0; b < batch && ok; ++b)
            for (int64_t q = 0; q < pixels && ok; ++q)
              for (int64_t c = 0; c < channels && ok; ++c)
                ok = y[(b * pixels + q) * channels + c] == x[(b * channels + c) * pixels + q];
          CHECK_MSG(ok, "threads=%d batch=%lld channels=%lld pixels=%lld: wrong element or write past the end",
                    threads, (long long)batch, (long long)channels, (long long)pixels);
        }
      }
    }
  }
  pool.set_num_threads(saved);
  bool threw = false;
  try {
    std::vector<float> buf(4);
    mk::nchw_to_nhwc(buf.data(), 1, 0, 4, buf.data());
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "zero channels accepted");
}
