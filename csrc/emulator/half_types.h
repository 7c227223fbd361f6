// __half and __nv_bfloat16 for the SIMT emulator: 16-bit storage types with CUDA's conversions,
// bit for bit (round to nearest even, subnormals kept, NaN canonical as in CUDA's own host
// conversions: 0x7fff as 16 bits, 0x7fffffff from half to float). Checked against CUDA 13's
// cuda_fp16.h / cuda_bf16.h on every third float and every half.
#pragma once

#include <stdint.h>
#include <string.h>

namespace kn_emu {

inline uint32_t float_bits(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof(bits));
  return bits;
}

inline float bits_float(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof(value));
  return value;
}

// Rounds `kept` up when the dropped bits (`rest`, left-aligned in 32 bits) exceed one half, or equal
// it and `kept` is odd.
inline uint32_t round_nearest_even(uint32_t kept, uint32_t rest) {
  return kept + ((rest > 0x80000000u || (rest == 0x80000000u && (kept & 1u))) ? 1u : 0u);
}

inline uint16_t float_to_half_bits(float value) {
  const uint32_t bits = float_bits(value), magnitude = bits & 0x7fffffffu, sign = (bits >> 16) & 0x8000u;
  if (magnitude > 0x7f800000u) return 0x7fffu;                     // NaN
  if (magnitude >= 0x477ff000u) return uint16_t(sign | 0x7c00u);    // >= 65520 rounds to infinity
  if (magnitude >= 0x38800000u) {                                   // normal half
    const uint32_t rebased = magnitude - 0x38000000u;
    return uint16_t(sign | round_nearest_even(rebased >> 13, rebased << 19));
  }
  if (magnitude <= 0x33000000u) return uint16_t(sign);              // at most 2^-25: zero
  const uint32_t shift = 0x7eu - (magnitude >> 23), mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  return uint16_t(sign | round_nearest_even(mantissa >> shift, mantissa << (32u - shift)));  // subnormal
}

inline float half_bits_to_float(uint16_t half) {
  const uint32_t sign = uint32_t(half & 0x8000u) << 16;
  int exponent = (half >> 10) & 0x1f;
  uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1f) return bits_float(mantissa ? 0x7fffffffu : (sign | 0x7f800000u));  // every NaN: 0x7fffffff
  if (exponent == 0) {
    if (mantissa == 0) return bits_float(sign);
    exponent = 1;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x3ffu;
  }
  return bits_float(sign | (uint32_t(exponent + 112) << 23) | (mantissa << 13));
}

inline uint16_t float_to_bfloat16_bits(float value) {
  const uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // NaN
  return uint16_t(round_nearest_even(bits >> 16, bits << 16));
}

inline float bfloat16_bits_to_float(uint16_t value) { return bits_float(uint32_t(value) << 16); }

}  // namespace kn_emu

struct __half {
  unsigned short __x;
  __half() = default;
  __half(float value) : __x(kn_emu::float_to_half_bits(value)) {}
  operator float() const { return kn_emu::half_bits_to_float(__x); }
};

struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float value) : __x(kn_emu::float_to_bfloat16_bits(value)) {}
  operator float() const { return kn_emu::bfloat16_bits_to_float(__x); }
};

inline float __half2float(__half value) { return kn_emu::half_bits_to_float(value.__x); }
inline __half __float2half(float value) { return __half(value); }
inline __half __float2half_rn(float value) { return __half(value); }
inline unsigned short __half_as_ushort(__half value) { return value.__x; }
inline __half __ushort_as_half(unsigned short bits) {
  __half value;
  value.__x = bits;
  return value;
}

inline float __bfloat162float(__nv_bfloat16 value) { return kn_emu::bfloat16_bits_to_float(value.__x); }
inline __nv_bfloat16 __float2bfloat16(float value) { return __nv_bfloat16(value); }
inline __nv_bfloat16 __float2bfloat16_rn(float value) { return __nv_bfloat16(value); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 value) { return value.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short bits) {
  __nv_bfloat16 value;
  value.__x = bits;
  return value;
}
