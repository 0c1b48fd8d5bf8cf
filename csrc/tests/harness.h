// A minimal test harness: TEST cases register themselves; main runs them all and ends
// with "N passed, N failed" (the line CI reads). CHECK records a failure and goes on.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace mktest {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& failures_in_case() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace mktest

#define MK_CONCAT_(a, b) a##b
#define MK_CONCAT(a, b) MK_CONCAT_(a, b)
#define TEST_CASE(name)                                                        \
  static void MK_CONCAT(mk_test_fn_, __LINE__)();                             \
  static mktest::Registrar MK_CONCAT(mk_test_reg_, __LINE__)(name, MK_CONCAT(mk_test_fn_, __LINE__)); \
  static void MK_CONCAT(mk_test_fn_, __LINE__)()

#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++mktest::failures_in_case();                                            \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                              \
    }                                                                          \
  } while (0)

#define CHECK(cond) CHECK_MSG(cond, "%s", "")
