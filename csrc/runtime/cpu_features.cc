#include "cpu_features.h"

#include <unistd.h>

#include <cstdlib>
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

bool cpu_has_avx512() {
#if defined(MK_HAVE_AVX512) && (defined(__x86_64__) || defined(__i386__))
  // libgcc's __builtin_cpu_supports reports avx512f only when the OS saves zmm state (XCR0).
  // VL (masked 256-bit ops, used for 8-lane column tails) is on every AVX-512 CPU but
  // Xeon Phi.
  static const bool ok =
      cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
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

namespace {

Isa detected_isa() {
  if (cpu_has_avx512()) return Isa::kAvx512;
  if (cpu_has_avx2_fma()) return Isa::kAvx2;
  if (cpu_has_neon()) return Isa::kNeon;
  return Isa::kScalar;
}

}  // namespace

int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
    long v = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return v > 0 ? static_cast<int64_t>(v) : int64_t{512} << 10;
  }();
  return bytes;
}

Isa best_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("MOBILEKERNELS_ISA");
    if (env == nullptr || *env == '\0' || std::string(env) == "auto") return detected_isa();
    return parse_isa(env);  // throws for an unknown or unavailable name
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  if (name == "auto") return best_isa();
  if (name == "avx512") {
    if (!cpu_has_avx512()) throw std::invalid_argument("isa 'avx512' is not available on this CPU/build");
    return Isa::kAvx512;
  }
  if (name == "scalar") return Isa::kScalar;
  if (name == "avx2") {
    if (!cpu_has_avx2_fma()) throw std::invalid_argument("isa 'avx2' is not available on this CPU/build");
    return Isa::kAvx2;
  }
  if (name == "neon") {
    if (!cpu_has_neon()) throw std::invalid_argument("isa 'neon' is not available on this CPU/build");
    return Isa::kNeon;
  }
  throw std::invalid_argument("isa must be 'auto', 'scalar', 'avx2', 'avx512' or 'neon', got '" + name + "'");
}

}  // namespace mk
