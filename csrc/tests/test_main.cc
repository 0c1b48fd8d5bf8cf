#include <cstdio>
#include <exception>

#include "../runtime/cpu_features.h"
#include "harness.h"

int main() {
  std::printf("ISAs under test: scalar and %s\n", mk::isa_name(mk::best_isa()));
  int passed = 0, failed = 0;
  for (const auto& c : mktest::registry()) {
    mktest::failures_in_case() = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      ++mktest::failures_in_case();
      std::fprintf(stderr, "%s: unexpected exception: %s\n", c.name, e.what());
    }
    if (mktest::failures_in_case() == 0) {
      ++passed;
    } else {
      ++failed;
      std::fprintf(stderr, "FAILED: %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
