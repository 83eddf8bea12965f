// AVX2 byte swap of 2-, 4- and 8-byte elements (big-endian <-> little-endian),
// one PSHUFB per 32 bytes.
#include "CBrineKernels.h"

#if defined(BRINE_KERNELS_X86)

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2")))

static void byteswap_tail(const uint8_t *src, uint8_t *dst, size_t count, size_t k) {
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = src + i * k;
        uint8_t *d = dst + i * k;
        switch (k) {
        case 2: { uint16_t v; memcpy(&v, s, 2); v = __builtin_bswap16(v); memcpy(d, &v, 2); break; }
        case 4: { uint32_t v; memcpy(&v, s, 4); v = __builtin_bswap32(v); memcpy(d, &v, 4); break; }
        case 8: { uint64_t v; memcpy(&v, s, 8); v = __builtin_bswap64(v); memcpy(d, &v, 8); break; }
        default: {
            // Generic reversal; reads every byte before writing so src == dst works.
            for (size_t a = 0, b = k - 1; a < b; a++, b--) {
                uint8_t x = s[a], y = s[b];
                d[a] = y;
                d[b] = x;
            }
            if (k % 2 == 1) {
                d[k / 2] = s[k / 2];
            }
            break;
        }
        }
    }
}

AVX2 void brine_byteswap_avx2(const void *src, void *dst, size_t count, size_t element_size) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    __m256i reverse;
    switch (element_size) {
    case 2:
        reverse = _mm256_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14,
                                   1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
        break;
    case 4:
        reverse = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                   3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
        break;
    case 8:
        reverse = _mm256_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,
                                   7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
        break;
    default:
        byteswap_tail(s, d, count, element_size);
        return;
    }
    size_t bytes = count * element_size;
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_shuffle_epi8(a, reverse));
        _mm256_storeu_si256((__m256i *)(d + i + 32), _mm256_shuffle_epi8(b, reverse));
    }
    // 64 is a multiple of every element size here, so i is on an element boundary.
    byteswap_tail(s + i, d + i, (bytes - i) / element_size, element_size);
}

#endif
