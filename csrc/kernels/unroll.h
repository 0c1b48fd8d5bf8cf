// MK_UNROLL(n): `#pragma GCC unroll n` for the kernels' register-blocked loops, except in
// sanitizer builds (-fsanitize=address defines __SANITIZE_ADDRESS__), where unrolling
// changes nothing the sanitizers check and made the depthwise files take ~5 minutes each
// to compile with instrumentation (the CI's ASan+UBSan build).
#pragma once

#define MK_PRAGMA_(x) _Pragma(#x)
#if defined(__SANITIZE_ADDRESS__)
#define MK_UNROLL(n) MK_PRAGMA_(GCC unroll 1)
#else
#define MK_UNROLL(n) MK_PRAGMA_(GCC unroll n)
#endif
