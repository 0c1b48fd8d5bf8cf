#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "../runtime/mirrored_buffer.h"
#include "harness.h"

// Where the mapping works (Linux), both halves are one memory: a write through either is
// read through the other, at every page, also after the buffer grows.
TEST_CASE("mirrored buffer: the second mapping is the first, before and after growing") {
  mk::MirroredBuffer ring;
  CHECK(!ring.ensure(0) && ring.data() == nullptr);
  for (int64_t want : {1, 1000, 5000, 300000, 10}) {
    if (!ring.ensure(want)) {  // no mapping here: the caller moves rows instead
      CHECK(ring.data() == nullptr && ring.size() == 0);
      continue;
    }
    const int64_t n = ring.size();
    CHECK_MSG(n >= want && (n * 4) % 4096 == 0, "want=%lld size=%lld", (long long)want, (long long)n);
    float* p = ring.data();
    for (int64_t i = 0; i < n; i += 997) p[i] = static_cast<float>(i);
    for (int64_t i = 0; i < n; i += 997) CHECK_MSG(p[n + i] == static_cast<float>(i), "i=%lld", (long long)i);
    for (int64_t i = 1; i < n; i += 1013) p[n + i] = -static_cast<float>(i);
    for (int64_t i = 1; i < n; i += 1013) CHECK_MSG(p[i] == -static_cast<float>(i), "i=%lld", (long long)i);
    // A run across the end of the first mapping is contiguous.
    p[n - 1] = 1.5f;
    p[0] = 2.5f;
    CHECK(p[n - 1] == 1.5f && p[n] == 2.5f);
  }
}

// A forked child gets its own buffer on its next ensure(): its writes do not reach the
// parent's (the mappings are MAP_SHARED, inherited across fork()).
TEST_CASE("mirrored buffer: a forked child's writes stay out of the parent's buffer") {
  mk::MirroredBuffer ring;
  if (!ring.ensure(1024)) return;  // no mapping here
  const int64_t n = ring.size();
  for (int64_t i = 0; i < n; ++i) ring.data()[i] = 1.0f;
  const pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {  // the child: remaps on ensure(), then overwrites whatever it got
    const bool ok = ring.ensure(1024);
    if (ok) for (int64_t i = 0; i < ring.size(); ++i) ring.data()[i] = 2.0f;
    _exit(ok ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
  bool intact = true;
  for (int64_t i = 0; i < 2 * n; ++i) intact = intact && ring.data()[i] == 1.0f;
  CHECK(intact);
}
