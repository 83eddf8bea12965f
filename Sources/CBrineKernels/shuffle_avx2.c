// AVX2 byte shuffle / unshuffle for element sizes 2, 4 and 8.
//
// Each loop iteration moves 32 whole elements: the shuffle gathers byte j of
// the 32 elements into one 32-byte register per j (a byte transpose built
// from in-lane PSHUFB, unpacks of growing width and 128-bit lane moves); the
// unshuffle runs the interleaving unpacks the other way. The element count
// left over (count % 32) is finished with a scalar loop.
#include "CBrineKernels.h"

#if defined(BRINE_KERNELS_X86)

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

static inline AVX2 __m256i load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline AVX2 void store32(uint8_t *p, __m256i v) { _mm256_storeu_si256((__m256i *)p, v); }

/// Lanes: result = [a.lane0, b.lane0] (selector 0x20) or [a.lane1, b.lane1] (0x31).
#define LANES_LO(a, b) _mm256_permute2x128_si256((a), (b), 0x20)
#define LANES_HI(a, b) _mm256_permute2x128_si256((a), (b), 0x31)

/// Scalar shuffle of elements [from, count).
static void shuffle_tail(const uint8_t *src, uint8_t *dst, size_t count, size_t k, size_t from) {
    for (size_t j = 0; j < k; j++) {
        uint8_t *out = dst + j * count;
        for (size_t i = from; i < count; i++) {
            out[i] = src[i * k + j];
        }
    }
}

/// Scalar unshuffle of elements [from, count).
static void unshuffle_tail(const uint8_t *src, uint8_t *dst, size_t count, size_t k, size_t from) {
    for (size_t i = from; i < count; i++) {
        for (size_t j = 0; j < k; j++) {
            dst[i * k + j] = src[j * count + i];
        }
    }
}

static AVX2 void shuffle2(const uint8_t *src, uint8_t *dst, size_t count) {
    // Per lane: the 8 first bytes, then the 8 second bytes.
    const __m256i gather = _mm256_setr_epi8(
        0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
        0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        const uint8_t *s = src + 2 * i;
        // [first bytes of e0-15 | second bytes of e0-15] after the qword permute.
        __m256i a = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(load32(s), gather), 0xD8);
        __m256i b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(load32(s + 32), gather), 0xD8);
        store32(dst + i, LANES_LO(a, b));
        store32(dst + count + i, LANES_HI(a, b));
    }
    shuffle_tail(src, dst, count, 2, i);
}

static AVX2 void unshuffle2(const uint8_t *src, uint8_t *dst, size_t count) {
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m256i b0 = load32(src + i);
        __m256i b1 = load32(src + count + i);
        __m256i lo = _mm256_unpacklo_epi8(b0, b1); // e0-7  | e16-23
        __m256i hi = _mm256_unpackhi_epi8(b0, b1); // e8-15 | e24-31
        uint8_t *d = dst + 2 * i;
        store32(d, LANES_LO(lo, hi));
        store32(d + 32, LANES_HI(lo, hi));
    }
    unshuffle_tail(src, dst, count, 2, i);
}

static AVX2 void shuffle4(const uint8_t *src, uint8_t *dst, size_t count) {
    // Per lane (4 elements): dword j = byte j of the 4 elements.
    const __m256i gather = _mm256_setr_epi8(
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        const uint8_t *s = src + 4 * i;
        __m256i r0 = load32(s), r1 = load32(s + 32), r2 = load32(s + 64), r3 = load32(s + 96);
        // Pair lanes so that lane 0 ends up holding e0-15 and lane 1 e16-31.
        __m256i x0 = _mm256_shuffle_epi8(LANES_LO(r0, r2), gather); // e0-3   | e16-19
        __m256i x1 = _mm256_shuffle_epi8(LANES_HI(r0, r2), gather); // e4-7   | e20-23
        __m256i x2 = _mm256_shuffle_epi8(LANES_LO(r1, r3), gather); // e8-11  | e24-27
        __m256i x3 = _mm256_shuffle_epi8(LANES_HI(r1, r3), gather); // e12-15 | e28-31
        // 4x4 dword transpose within each lane.
        __m256i t0 = _mm256_unpacklo_epi32(x0, x1);
        __m256i t1 = _mm256_unpackhi_epi32(x0, x1);
        __m256i t2 = _mm256_unpacklo_epi32(x2, x3);
        __m256i t3 = _mm256_unpackhi_epi32(x2, x3);
        store32(dst + i, _mm256_unpacklo_epi64(t0, t2));
        store32(dst + count + i, _mm256_unpackhi_epi64(t0, t2));
        store32(dst + 2 * count + i, _mm256_unpacklo_epi64(t1, t3));
        store32(dst + 3 * count + i, _mm256_unpackhi_epi64(t1, t3));
    }
    shuffle_tail(src, dst, count, 4, i);
}

static AVX2 void unshuffle4(const uint8_t *src, uint8_t *dst, size_t count) {
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m256i b0 = load32(src + i);
        __m256i b1 = load32(src + count + i);
        __m256i b2 = load32(src + 2 * count + i);
        __m256i b3 = load32(src + 3 * count + i);
        __m256i lo01 = _mm256_unpacklo_epi8(b0, b1); // e0-7  | e16-23, bytes 0-1
        __m256i hi01 = _mm256_unpackhi_epi8(b0, b1); // e8-15 | e24-31
        __m256i lo23 = _mm256_unpacklo_epi8(b2, b3); // bytes 2-3
        __m256i hi23 = _mm256_unpackhi_epi8(b2, b3);
        __m256i x = _mm256_unpacklo_epi16(lo01, lo23); // e0-3   | e16-19
        __m256i y = _mm256_unpackhi_epi16(lo01, lo23); // e4-7   | e20-23
        __m256i z = _mm256_unpacklo_epi16(hi01, hi23); // e8-11  | e24-27
        __m256i w = _mm256_unpackhi_epi16(hi01, hi23); // e12-15 | e28-31
        uint8_t *d = dst + 4 * i;
        store32(d, LANES_LO(x, y));
        store32(d + 32, LANES_LO(z, w));
        store32(d + 64, LANES_HI(x, y));
        store32(d + 96, LANES_HI(z, w));
    }
    unshuffle_tail(src, dst, count, 4, i);
}

static AVX2 void shuffle8(const uint8_t *src, uint8_t *dst, size_t count) {
    // Per lane (2 elements A, B): word j = (byte j of A, byte j of B).
    const __m256i gather = _mm256_setr_epi8(
        0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
        0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        const uint8_t *s = src + 8 * i;
        __m256i r0 = load32(s), r1 = load32(s + 32), r2 = load32(s + 64), r3 = load32(s + 96);
        __m256i r4 = load32(s + 128), r5 = load32(s + 160), r6 = load32(s + 192), r7 = load32(s + 224);
        // Element pair q (elements 2q, 2q+1) in lane 0 of x_q, pair q+8 in lane 1.
        __m256i x0 = _mm256_shuffle_epi8(LANES_LO(r0, r4), gather);
        __m256i x1 = _mm256_shuffle_epi8(LANES_HI(r0, r4), gather);
        __m256i x2 = _mm256_shuffle_epi8(LANES_LO(r1, r5), gather);
        __m256i x3 = _mm256_shuffle_epi8(LANES_HI(r1, r5), gather);
        __m256i x4 = _mm256_shuffle_epi8(LANES_LO(r2, r6), gather);
        __m256i x5 = _mm256_shuffle_epi8(LANES_HI(r2, r6), gather);
        __m256i x6 = _mm256_shuffle_epi8(LANES_LO(r3, r7), gather);
        __m256i x7 = _mm256_shuffle_epi8(LANES_HI(r3, r7), gather);
        // 8x8 word transpose within each lane.
        __m256i a0 = _mm256_unpacklo_epi16(x0, x1), a1 = _mm256_unpackhi_epi16(x0, x1);
        __m256i a2 = _mm256_unpacklo_epi16(x2, x3), a3 = _mm256_unpackhi_epi16(x2, x3);
        __m256i a4 = _mm256_unpacklo_epi16(x4, x5), a5 = _mm256_unpackhi_epi16(x4, x5);
        __m256i a6 = _mm256_unpacklo_epi16(x6, x7), a7 = _mm256_unpackhi_epi16(x6, x7);
        __m256i b0 = _mm256_unpacklo_epi32(a0, a2), b1 = _mm256_unpackhi_epi32(a0, a2);
        __m256i b2 = _mm256_unpacklo_epi32(a1, a3), b3 = _mm256_unpackhi_epi32(a1, a3);
        __m256i b4 = _mm256_unpacklo_epi32(a4, a6), b5 = _mm256_unpackhi_epi32(a4, a6);
        __m256i b6 = _mm256_unpacklo_epi32(a5, a7), b7 = _mm256_unpackhi_epi32(a5, a7);
        store32(dst + i, _mm256_unpacklo_epi64(b0, b4));
        store32(dst + count + i, _mm256_unpackhi_epi64(b0, b4));
        store32(dst + 2 * count + i, _mm256_unpacklo_epi64(b1, b5));
        store32(dst + 3 * count + i, _mm256_unpackhi_epi64(b1, b5));
        store32(dst + 4 * count + i, _mm256_unpacklo_epi64(b2, b6));
        store32(dst + 5 * count + i, _mm256_unpackhi_epi64(b2, b6));
        store32(dst + 6 * count + i, _mm256_unpacklo_epi64(b3, b7));
        store32(dst + 7 * count + i, _mm256_unpackhi_epi64(b3, b7));
    }
    shuffle_tail(src, dst, count, 8, i);
}

static AVX2 void unshuffle8(const uint8_t *src, uint8_t *dst, size_t count) {
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        const uint8_t *s = src + i;
        __m256i b0 = load32(s), b1 = load32(s + count);
        __m256i b2 = load32(s + 2 * count), b3 = load32(s + 3 * count);
        __m256i b4 = load32(s + 4 * count), b5 = load32(s + 5 * count);
        __m256i b6 = load32(s + 6 * count), b7 = load32(s + 7 * count);
        // Bytes (0,1), (2,3), (4,5), (6,7): lo = e0-7 | e16-23, hi = e8-15 | e24-31.
        __m256i c0 = _mm256_unpacklo_epi8(b0, b1), c1 = _mm256_unpackhi_epi8(b0, b1);
        __m256i c2 = _mm256_unpacklo_epi8(b2, b3), c3 = _mm256_unpackhi_epi8(b2, b3);
        __m256i c4 = _mm256_unpacklo_epi8(b4, b5), c5 = _mm256_unpackhi_epi8(b4, b5);
        __m256i c6 = _mm256_unpacklo_epi8(b6, b7), c7 = _mm256_unpackhi_epi8(b6, b7);
        // Bytes 0-3 and 4-7 of e0-3 | e16-19, e4-7 | e20-23, e8-11 | e24-27, e12-15 | e28-31.
        __m256i d0 = _mm256_unpacklo_epi16(c0, c2), d1 = _mm256_unpackhi_epi16(c0, c2);
        __m256i d2 = _mm256_unpacklo_epi16(c1, c3), d3 = _mm256_unpackhi_epi16(c1, c3);
        __m256i d4 = _mm256_unpacklo_epi16(c4, c6), d5 = _mm256_unpackhi_epi16(c4, c6);
        __m256i d6 = _mm256_unpacklo_epi16(c5, c7), d7 = _mm256_unpackhi_epi16(c5, c7);
        // Whole elements, two per lane: f0 = e0,1 | e16,17; f1 = e2,3 | e18,19; ...
        __m256i f0 = _mm256_unpacklo_epi32(d0, d4), f1 = _mm256_unpackhi_epi32(d0, d4);
        __m256i f2 = _mm256_unpacklo_epi32(d1, d5), f3 = _mm256_unpackhi_epi32(d1, d5);
        __m256i f4 = _mm256_unpacklo_epi32(d2, d6), f5 = _mm256_unpackhi_epi32(d2, d6);
        __m256i f6 = _mm256_unpacklo_epi32(d3, d7), f7 = _mm256_unpackhi_epi32(d3, d7);
        uint8_t *d = dst + 8 * i;
        store32(d, LANES_LO(f0, f1));
        store32(d + 32, LANES_LO(f2, f3));
        store32(d + 64, LANES_LO(f4, f5));
        store32(d + 96, LANES_LO(f6, f7));
        store32(d + 128, LANES_HI(f0, f1));
        store32(d + 160, LANES_HI(f2, f3));
        store32(d + 192, LANES_HI(f4, f5));
        store32(d + 224, LANES_HI(f6, f7));
    }
    unshuffle_tail(src, dst, count, 8, i);
}

AVX2 void brine_shuffle_avx2(const void *src, void *dst, size_t count, size_t element_size) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    switch (element_size) {
    case 2: shuffle2(s, d, count); break;
    case 4: shuffle4(s, d, count); break;
    case 8: shuffle8(s, d, count); break;
    default: shuffle_tail(s, d, count, element_size, 0); break;
    }
}

AVX2 void brine_unshuffle_avx2(const void *src, void *dst, size_t count, size_t element_size) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    switch (element_size) {
    case 2: unshuffle2(s, d, count); break;
    case 4: unshuffle4(s, d, count); break;
    case 8: unshuffle8(s, d, count); break;
    default: unshuffle_tail(s, d, count, element_size, 0); break;
    }
}

#endif
