// AVX2 float32 <-> bfloat16 and F16C float32 <-> float16 bulk conversions.
//
// The definitions (rounding, NaN, infinity) are those of FloatConversion in
// Sources/Brine/Codecs/Conversions.swift; the Swift tests compare these
// kernels with them over every float16/bfloat16 pattern and a dense sample
// of float32 patterns. Pointers may be unaligned: vectors use unaligned
// loads and stores, scalars go through memcpy.
#include "CBrineKernels.h"

#if defined(BRINE_KERNELS_X86)

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2")))
#define AVX2_F16C __attribute__((target("avx2,f16c")))

/// The scalar bfloat16 rounding (same as BFloat16.init(_: Float)).
static uint16_t narrow_bfloat16_one(uint32_t bits) {
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        return (uint16_t)((bits >> 16) | 0x0040u);
    }
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

/// Eight float32 lanes rounded to bfloat16, left in the low 16 bits of each dword.
static inline AVX2 __m256i narrow_bfloat16_8(__m256i bits) {
    const __m256i absMask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i infinity = _mm256_set1_epi32(0x7F800000);
    const __m256i roundingBias = _mm256_set1_epi32(0x7FFF);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i quietBit = _mm256_set1_epi32(0x00400000);
    // Integer compare (no floating-point exceptions, no DAZ effects): |x| > inf <=> NaN.
    __m256i isNaN = _mm256_cmpgt_epi32(_mm256_and_si256(bits, absMask), infinity);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), one);
    __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(bits, roundingBias), lsb);
    __m256i chosen = _mm256_blendv_epi8(rounded, _mm256_or_si256(bits, quietBit), isNaN);
    return _mm256_srli_epi32(chosen, 16);
}

AVX2 void brine_narrow_bfloat16_avx2(const void *src, void *dst, size_t count) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256i a = narrow_bfloat16_8(_mm256_loadu_si256((const __m256i *)(s + 4 * i)));
        __m256i b = narrow_bfloat16_8(_mm256_loadu_si256((const __m256i *)(s + 4 * i + 32)));
        // The values fit in 16 bits, so the unsigned saturation never clips;
        // the qword permute undoes the per-lane interleave of the pack.
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm256_storeu_si256((__m256i *)(d + 2 * i), packed);
    }
    for (; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, s + 4 * i, 4);
        uint16_t h = narrow_bfloat16_one(bits);
        memcpy(d + 2 * i, &h, 2);
    }
}

AVX2 void brine_widen_bfloat16_avx2(const void *src, void *dst, size_t count) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256i a = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + 2 * i)));
        __m256i b = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + 2 * i + 16)));
        _mm256_storeu_si256((__m256i *)(d + 4 * i), _mm256_slli_epi32(a, 16));
        _mm256_storeu_si256((__m256i *)(d + 4 * i + 32), _mm256_slli_epi32(b, 16));
    }
    for (; i < count; i++) {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        memcpy(d + 4 * i, &bits, 4);
    }
}

AVX2_F16C void brine_narrow_float16_f16c(const void *src, void *dst, size_t count) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m128i a = _mm256_cvtps_ph(_mm256_loadu_ps((const float *)(s + 4 * i)), _MM_FROUND_TO_NEAREST_INT);
        __m128i b = _mm256_cvtps_ph(_mm256_loadu_ps((const float *)(s + 4 * i + 32)), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)(d + 2 * i), _mm256_set_m128i(b, a));
    }
    if (i < count) {
        // Fewer than 16 left: convert through zero-padded buffers.
        float in[16] = {0};
        uint16_t out[16];
        size_t rest = count - i;
        memcpy(in, s + 4 * i, rest * 4);
        _mm_storeu_si128((__m128i *)out, _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(out + 8), _mm256_cvtps_ph(_mm256_loadu_ps(in + 8), _MM_FROUND_TO_NEAREST_INT));
        memcpy(d + 2 * i, out, rest * 2);
    }
}

AVX2_F16C void brine_widen_float16_f16c(const void *src, void *dst, size_t count) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        _mm256_storeu_ps((float *)(d + 4 * i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 2 * i))));
        _mm256_storeu_ps((float *)(d + 4 * i + 32), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 2 * i + 16))));
    }
    if (i < count) {
        uint16_t in[16] = {0};
        float out[16];
        size_t rest = count - i;
        memcpy(in, s + 2 * i, rest * 2);
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)in)));
        _mm256_storeu_ps(out + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + 8))));
        memcpy(d + 4 * i, out, rest * 4);
    }
}

#endif
