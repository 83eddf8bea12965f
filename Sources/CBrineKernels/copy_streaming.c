// Bulk copy with non-temporal (streaming) stores, for copies far larger
// than the last-level cache: the destination lines are written without
// first being read for ownership and without evicting the cache, so a
// large copy moves 2 bytes of memory traffic per byte instead of 3.
// SSE2 (MOVNTDQ) is baseline on x86_64 and is as fast as AVX2 here, where
// the copy is bound by memory bandwidth.
#include "CBrineKernels.h"

#if defined(__x86_64__)

#include <emmintrin.h>
#include <string.h>

void brine_copy_streaming(void *dst, const void *src, size_t count) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    // Ordinary copy up to the first 64-byte boundary of the destination.
    size_t head = (size_t)(-(uintptr_t)d) & 63;
    if (head > count) {
        head = count;
    }
    memcpy(d, s, head);
    d += head;
    s += head;
    count -= head;
    size_t i = 0;
    for (; i + 64 <= count; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
        _mm_stream_si128((__m128i *)(d + i), a);
        _mm_stream_si128((__m128i *)(d + i + 16), b);
        _mm_stream_si128((__m128i *)(d + i + 32), c);
        _mm_stream_si128((__m128i *)(d + i + 48), e);
    }
    // Streaming stores are weakly ordered: fence them before the caller
    // publishes the destination to another thread.
    _mm_sfence();
    memcpy(d + i, s + i, count - i);
}

#endif
