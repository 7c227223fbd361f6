// Loading and storing tensor elements as float, one at a time or as one 16-byte vector. x, y, dy,
// dx and the residual may be float, half or bfloat16; all arithmetic is float32.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

namespace kn::cuda {

__device__ __forceinline__ float to_float(float value) { return value; }
__device__ __forceinline__ float to_float(__half value) { return __half2float(value); }
__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }

template <typename T>
__device__ __forceinline__ T from_float(float value);
template <>
__device__ __forceinline__ float from_float<float>(float value) { return value; }
template <>
__device__ __forceinline__ __half from_float<__half>(float value) { return __float2half_rn(value); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float value) { return __float2bfloat16_rn(value); }

// Elements of T in one 16-byte vector.
template <typename T>
constexpr int kVectorWidth = 16 / sizeof(T);

// V consecutive elements as they lie in memory: one element, or one 16-byte vector (V > 1, then
// V * sizeof(T) == 16 and the address is 16-byte aligned).
template <typename T, int V>
using Packed = std::conditional_t<V == 1, T, uint4>;

template <typename T, int V>
__device__ __forceinline__ Packed<T, V> load_packed(const T* source) {
  static_assert(V == 1 || V * sizeof(T) == 16, "a vector is 16 bytes");
  return *reinterpret_cast<const Packed<T, V>*>(source);
}

template <typename T, int V>
__device__ __forceinline__ void unpack_floats(const Packed<T, V>& packed, float (&out)[V]) {
  if constexpr (V == 1) {
    out[0] = to_float(packed);
  } else {
    // memcpy into T's own array: reading the uint4 through a T* would break strict aliasing (g++ -O2
    // miscompiles that; nvcc turns this memcpy into register moves).
    T values[V];
    memcpy(values, &packed, sizeof(packed));
#pragma unroll
    for (int i = 0; i < V; ++i) out[i] = to_float(values[i]);
  }
}

// Loads V consecutive elements as float.
template <typename T, int V>
__device__ __forceinline__ void load_floats(const T* source, float (&out)[V]) {
  unpack_floats<T, V>(load_packed<T, V>(source), out);
}

template <typename T, int V>
__device__ __forceinline__ void store_floats(T* target, const float (&in)[V]) {
  if constexpr (V == 1) {
    target[0] = from_float<T>(in[0]);
  } else {
    static_assert(V * sizeof(T) == 16, "a vector is 16 bytes");
    T values[V];
#pragma unroll
    for (int i = 0; i < V; ++i) values[i] = from_float<T>(in[i]);
    uint4 raw;
    memcpy(&raw, values, sizeof(raw));
    *reinterpret_cast<uint4*>(target) = raw;
  }
}

}  // namespace kn::cuda
