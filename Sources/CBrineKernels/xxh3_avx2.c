// XXH3-64 (seed 0) with xxHash's own AVX2 accumulate loop.
//
// Debian's libxxhash is built for baseline x86_64 and so runs XXH3's SSE2
// loop (about 20 GB/s on this machine for a 1 MiB chunk in cache); the AVX2
// loop of the same header runs about 50 GB/s, so checksumming stops being a
// large part of an uncompressed save or a verified load. This translation
// unit compiles xxhash.h inline (XXH_INLINE_ALL: every function static, no
// symbol clashes with libxxhash) with every function it defines marked
// `target("avx2")` by a clang attribute pragma, so the target needs no
// compiler flags; Swift calls it only when brine_cpu_features() reports
// AVX2 (Checksum.xxh3). The result is the XXH3 specification's, bit for bit
// (tests compare it with libxxhash over every length class).
#include "CBrineKernels.h"

#if defined(BRINE_KERNELS_X86) && defined(__clang__) && defined(__has_include)
#if __has_include(<xxhash.h>)
#define BRINE_XXH3_AVX2_BUILT 1
#endif
#endif

#if BRINE_XXH3_AVX2_BUILT

// The intrinsics first, outside the pragma (clang declares them with their
// own target attributes); xxhash.h includes them only when __AVX2__ is set.
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>
#pragma clang attribute pop

int brine_xxh3_avx2_available(void) { return 1; }

uint64_t brine_xxh3_64_avx2(const void *data, size_t length) {
    return XXH3_64bits(data, length);
}

#else

int brine_xxh3_avx2_available(void) { return 0; }

uint64_t brine_xxh3_64_avx2(const void *data, size_t length) {
    (void)data;
    (void)length;
    return 0;
}

#endif
