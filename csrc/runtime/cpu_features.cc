#include "cpu_features.h"

#include <stdexcept>

namespace mk {

bool cpu_has_avx2_fma() {
#if defined(MK_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

bool cpu_has_neon() {
#if defined(MK_HAVE_NEON)
  return true;  // NEON (ASIMD) is mandatory on aarch64.
#else
  return false;
#endif
}

Isa best_isa() {
  if (cpu_has_avx2_fma()) return Isa::kAvx2;
  if (cpu_has_neon()) return Isa::kNeon;
  return Isa::kScalar;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kNeon: return "neon";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  if (name == "auto") return best_isa();
  if (name == "scalar") return Isa::kScalar;
  if (name == "avx2") {
    if (!cpu_has_avx2_fma()) throw std::invalid_argument("isa 'avx2' is not available on this CPU/build");
    return Isa::kAvx2;
  }
  if (name == "neon") {
    if (!cpu_has_neon()) throw std::invalid_argument("isa 'neon' is not available on this CPU/build");
    return Isa::kNeon;
  }
  throw std::invalid_argument("isa must be 'auto', 'scalar', 'avx2' or 'neon', got '" + name + "'");
}

}  // namespace mk
