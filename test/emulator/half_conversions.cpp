// The SIMT emulator's __half / __nv_bfloat16 conversions (csrc/emulator/half_types.h) against CUDA's
// own host conversions in cuda_fp16.h / cuda_bf16.h: float -> half and float -> bfloat16 on every
// 7th float (all exponents, both signs, NaNs and subnormals among them), half -> float on all
// 65536 halves. Built as kn_emulator_half_check where CUDA's headers are found; exits 1 on any
// difference. test/gpu/emulator-checks.test.ts runs it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// The emulator's header, with its CUDA names moved aside so both sets can live in one program.
#define __half emu_half
#define __nv_bfloat16 emu_bfloat16
#define __half2float emu_half2float
#define __float2half emu_float2half
#define __float2half_rn emu_float2half_rn
#define __half_as_ushort emu_half_as_ushort
#define __ushort_as_half emu_ushort_as_half
#define __bfloat162float emu_bfloat162float
#define __float2bfloat16 emu_float2bfloat16
#define __float2bfloat16_rn emu_float2bfloat16_rn
#define __bfloat16_as_ushort emu_bfloat16_as_ushort
#define __ushort_as_bfloat16 emu_ushort_as_bfloat16
#include "../../csrc/emulator/half_types.h"
#undef __half
#undef __nv_bfloat16
#undef __half2float
#undef __float2half
#undef __float2half_rn
#undef __half_as_ushort
#undef __ushort_as_half
#undef __bfloat162float
#undef __float2bfloat16
#undef __float2bfloat16_rn
#undef __bfloat16_as_ushort
#undef __ushort_as_bfloat16

int main() {
  uint64_t differences = 0;
  for (uint64_t i = 0; i < (uint64_t(1) << 32); i += 7) {
    const uint32_t bits = uint32_t(i);
    float value;
    memcpy(&value, &bits, sizeof(value));
    const __half half = __float2half_rn(value);
    const __nv_bfloat16 bfloat = __float2bfloat16_rn(value);
    uint16_t half_bits, bfloat_bits;
    memcpy(&half_bits, &half, 2);
    memcpy(&bfloat_bits, &bfloat, 2);
    if (half_bits != kn_emu::float_to_half_bits(value) && differences++ < 5) printf("float %08x -> half\n", bits);
    if (bfloat_bits != kn_emu::float_to_bfloat16_bits(value) && differences++ < 5) printf("float %08x -> bfloat16\n", bits);
  }
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const uint16_t half_bits = uint16_t(bits);
    __half_raw raw;
    raw.x = half_bits;
    const float cuda = __half2float(__half(raw)), emulated = kn_emu::half_bits_to_float(half_bits);
    if (memcmp(&cuda, &emulated, sizeof(float)) != 0 && differences++ < 5) printf("half %04x -> float\n", bits);
  }
  printf("%llu differences\n", (unsigned long long)differences);
  return differences == 0 ? 0 : 1;
}
