// Run-time CPU feature detection: which microkernel ISA this machine can execute.
#pragma once
#include <string>

namespace mk {

enum class Isa { kScalar, kAvx2, kNeon };

bool cpu_has_avx2_fma();
bool cpu_has_neon();
// The best ISA compiled in and supported by this CPU.
Isa best_isa();
const char* isa_name(Isa isa);
// "auto" -> best_isa(); otherwise the named ISA, which must be compiled in and supported.
// Throws std::invalid_argument for an unknown or unavailable name.
Isa parse_isa(const std::string& name);

}  // namespace mk
