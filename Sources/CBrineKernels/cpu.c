// Run-time CPU feature probe for the kernel dispatch (see CBrineKernels.h).
#include "CBrineKernels.h"

#include <stdatomic.h>

/// Bit 31 marks the cache as filled (features alone can be 0).
#define BRINE_CPU_PROBED (1u << 31)

static _Atomic unsigned cachedFeatures = 0;

unsigned brine_cpu_features(void) {
    unsigned value = atomic_load_explicit(&cachedFeatures, memory_order_relaxed);
    if (value & BRINE_CPU_PROBED) {
        return value & ~BRINE_CPU_PROBED;
    }
    unsigned features = 0;
#if defined(BRINE_KERNELS_X86) && !BRINE_CPU_PROBE_DISABLED
    // __builtin_cpu_supports reads the table that libgcc / compiler-rt fill
    // in a constructor; calling __builtin_cpu_init first makes this safe
    // even from other constructors. "avx2" is reported only when the OS
    // also enables the YMM state (XGETBV), so the kernels can run.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        features |= BRINE_CPU_AVX2;
    }
    if (__builtin_cpu_supports("f16c")) {
        features |= BRINE_CPU_F16C;
    }
#endif
    // Racing threads compute the same value; a relaxed store is enough.
    atomic_store_explicit(&cachedFeatures, features | BRINE_CPU_PROBED, memory_order_relaxed);
    return features;
}
