// Run-time CPU feature detection: which microkernel ISA this machine can execute.
#pragma once
#include <cstdint>
#include <string>

namespace mk {

enum class Isa { kScalar, kAvx2, kAvx512, kNeon };

bool cpu_has_avx2_fma();
// AVX-512F and VL (with AVX2+FMA, which every AVX-512 CPU has) and OS support for zmm state.
bool cpu_has_avx512();
bool cpu_has_neon();
// The best ISA compiled in and supported by this CPU, unless MOBILEKERNELS_ISA names
// another available one (e.g. avx2 on a CPU whose AVX-512 clocks down); read once.
Isa best_isa();
// Per-core L2 size in bytes (sysconf; 512 KiB where the OS does not say).
int64_t l2_cache_bytes();
const char* isa_name(Isa isa);
// "auto" -> best_isa(); otherwise the named ISA, which must be compiled in and supported.
// Throws std::invalid_argument for an unknown or unavailable name.
Isa parse_isa(const std::string& name);

}  // namespace mk
