// Explicit 4-float vectors (the GCC/Clang vector extension, one SSE register) for the reduction
// loops: the compiler's own vectorizer interleaves multi-accumulator loops with shuffles there.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kn {

typedef float Float4 __attribute__((vector_size(16)));

// Each reduction keeps kGroups independent Float4 accumulators, so additions do not wait on each
// other; a step covers kStep consecutive floats.
constexpr int kGroups = 4;
constexpr int64_t kStep = 4 * kGroups;

inline Float4 load4(const float* p) {
  Float4 v;
  __builtin_memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}

inline void store4(float* p, Float4 v) { __builtin_memcpy(p, &v, sizeof v); }  // unaligned store

// Non-temporal stores (x86-64; a plain store elsewhere): they write a line without reading it into
// the cache first (a plain store's read for ownership), for outputs larger than the caches. The
// address must be 16-byte aligned; store_fence() orders them before the writes that follow.
inline bool aligned16(const float* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

inline void stream4(float* p, Float4 v) {
#if defined(__x86_64__)
  _mm_stream_ps(p, v);
#else
  store4(p, v);
#endif
}

inline void store_fence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

inline Float4 broadcast4(float value) { return Float4{value, value, value, value}; }

// Sum of all lanes of all groups.
inline float total(const Float4 (&groups)[kGroups]) {
  Float4 sum = groups[0];
  for (int g = 1; g < kGroups; ++g) sum += groups[g];
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

}  // namespace kn
