// The loss check behind Brine's narrowing rule (docs/FORMAT.md, "dtype
// codes"; Sources/Brine/Codecs/Conversions.swift): after float32 values are
// narrowed to float16 or bfloat16, find the first finite value that became
// infinite or nonzero value that became zero. Plain C, portable; the
// per-block loop has no branch, so the compiler vectorizes it (SSE2 on
// baseline x86_64), and the check costs a small fraction of the conversion.
#include "CBrineKernels.h"
#include <string.h>

static inline int lost(uint32_t in, uint16_t out, uint16_t inf_bits) {
    uint32_t in_abs = in & 0x7FFFFFFFu;
    uint16_t out_abs = out & 0x7FFFu;
    int in_finite = in_abs < 0x7F800000u;
    int overflow = in_finite & (out_abs == inf_bits);
    int underflow = (in_abs != 0) & (out_abs == 0);
    return overflow | underflow;
}

size_t brine_narrowing_loss(const void *src, const void *dst, size_t count, int half) {
    const uint8_t *s = (const uint8_t *)src;
    const uint8_t *d = (const uint8_t *)dst;
    const uint16_t inf_bits = half ? 0x7C00u : 0x7F80u;
    enum { BLOCK = 64 };
    size_t i = 0;
    for (; i + BLOCK <= count; i += BLOCK) {
        uint32_t in[BLOCK];
        uint16_t out[BLOCK];
        memcpy(in, s + i * 4, sizeof in);
        memcpy(out, d + i * 2, sizeof out);
        int any = 0;
        for (int k = 0; k < BLOCK; k++) any |= lost(in[k], out[k], inf_bits);
        if (any) break;
    }
    for (; i < count; i++) {
        uint32_t in;
        uint16_t out;
        memcpy(&in, s + i * 4, 4);
        memcpy(&out, d + i * 2, 2);
        if (lost(in, out, inf_bits)) return i;
    }
    return count;
}
