// Argument checks shared by the drivers and the bindings: a failed check throws
// std::invalid_argument, which pybind11 turns into a Python ValueError.
#pragma once
#include <stdexcept>
#include <string>

namespace mk {

inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

}  // namespace mk
