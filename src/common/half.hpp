// Host-side fp16 / bf16 conversions, round-to-nearest-even, NaN and Inf preserved.
// Used by the CPU backend, tests and the benchmark; the CUDA backend uses the
// hardware conversions, which round the same way.
#pragma once

#include <cstdint>
#include <cstring>

namespace ffc {

inline uint32_t float_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float bf16_to_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }

inline uint16_t float_to_bf16(float f) {
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}

inline float fp16_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // Inf / NaN
    if (exp == 0) {
        if (man == 0) return bits_float(sign);
        // subnormal: value = man · 2^-24
        float v = float(man) * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
}

inline uint16_t float_to_fp16(float f) {
    uint32_t u = float_bits(f);
    uint16_t sign = uint16_t((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);        // NaN
    if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);       // rounds to Inf (>= 65520)
    if (a < 0x38800000u) {                                       // below fp16 normal range: subnormal
        if (a < 0x33000000u) return sign;                        // < 2^-25 rounds to zero
        uint32_t exp = a >> 23;
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - exp;                             // 14 + (112 - (exp - 127)) ... = 126 - exp
        uint32_t half_man = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (half_man & 1u))) ++half_man;
        return uint16_t(sign | half_man);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);                  // RNE on the 13 dropped bits
    return uint16_t(sign | (((r >> 23) - 112u) << 10) | ((r >> 13) & 0x3ffu));
}

// Load / store one element of an I/O tensor of the given dtype as float.
inline float load_as_float(const void *base, int64_t i, int32_t dtype) {
    switch (dtype) {
    case 0: return static_cast<const float *>(base)[i];
    case 1: return fp16_to_float(static_cast<const uint16_t *>(base)[i]);
    default: return bf16_to_float(static_cast<const uint16_t *>(base)[i]);
    }
}
inline void store_from_float(void *base, int64_t i, int32_t dtype, float v) {
    switch (dtype) {
    case 0: static_cast<float *>(base)[i] = v; break;
    case 1: static_cast<uint16_t *>(base)[i] = float_to_fp16(v); break;
    default: static_cast<uint16_t *>(base)[i] = float_to_bf16(v); break;
    }
}

}  // namespace ffc
