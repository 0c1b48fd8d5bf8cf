// Argument checks shared by the drivers and the bindings: a failed check throws
// std::invalid_argument, which pybind11 turns into a Python ValueError.
// Checks run on every call (a network checks each layer's sizes per forward), so a
// message is never built unless the check fails: literals go as const char*, composed
// messages as a callable, require(ok, [&] { return "..." + std::to_string(n); }). (A
// std::string argument was built, and usually allocated, on every call: ~3 us per call
// of a one-layer network.)
#pragma once
#include <stdexcept>
#include <string>
#include <type_traits>

namespace mk {

inline void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

template <class F, class = std::enable_if_t<std::is_invocable_r_v<std::string, F&>>>
inline void require(bool ok, F&& message) {
  if (!ok) throw std::invalid_argument(message());
}

}  // namespace mk
