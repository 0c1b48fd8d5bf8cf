#include <cstdio>
#include <exception>

#include "../runtime/cpu_features.h"
#include "harness.h"
#include "reference.h"

int main() {
  std::printf("ISAs under test:");
  for (mk::Isa isa : mktest::isas()) std::printf(" %s", mk::isa_name(isa));
  std::printf("\n");
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
