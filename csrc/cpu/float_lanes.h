// Explicit float vectors (the GCC/Clang vector extension) for the CPU kernels' loops: the
// compiler's own vectorizer interleaves multi-accumulator loops with shuffles there. A vector is W
// floats: 8 (one AVX register) where the CPU has AVX2, else 4 (one SSE register); vector_width.h
// picks W at run time. Reductions add in kStep lanes whatever W, so the bits do not depend on it.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Every helper that takes or returns a vector is inlined: a call between the AVX2 code and the
// baseline code would pass a 32-byte vector under two different ABIs.
#define KN_LANES_INLINE inline __attribute__((always_inline))

namespace kn {

template <int W>
struct FloatVectorOf {
  static_assert(W == 4 || W == 8);
  typedef float type __attribute__((vector_size(4 * W)));
};

template <int W>
using FloatVec = typename FloatVectorOf<W>::type;

// A reduction step covers kStep consecutive floats in kStep / W independent accumulators, so that
// additions do not wait on each other. Lane l of the step (accumulator l / W, element l % W) always
// adds the same elements, in the same order, at either width.
constexpr int64_t kStep = 32;

template <int W>
KN_LANES_INLINE FloatVec<W> load(const float* p) {
  FloatVec<W> v;
  __builtin_memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}

template <int W>
KN_LANES_INLINE void store(float* p, FloatVec<W> v) {
  __builtin_memcpy(p, &v, sizeof v);  // unaligned store
}

template <int W>
KN_LANES_INLINE FloatVec<W> broadcast(float value) {
  return FloatVec<W>{} + value;
}

// Non-temporal stores (x86-64; a plain store elsewhere): they write a line without reading it into
// the cache first (a plain store's read for ownership), for outputs larger than the caches. The
// address must be 16-byte aligned (W floats go as W / 4 stores of 16 bytes); store_fence() orders
// them before the writes that follow.
inline bool aligned16(const float* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <int W>
KN_LANES_INLINE void stream(float* p, FloatVec<W> v) {
#if defined(__x86_64__)
  for (int quarter = 0; quarter < W / 4; ++quarter) {
    __m128 four;
    __builtin_memcpy(&four, reinterpret_cast<const float*>(&v) + 4 * quarter, sizeof four);
    _mm_stream_ps(p + 4 * quarter, four);
  }
#else
  store<W>(p, v);
#endif
}

inline void store_fence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

// The sum of a step's kStep lanes, held in kStep / W accumulators, taken as kStep / 8 rows of 8
// lanes (at W = 4, accumulators 2r and 2r + 1 make row r): the rows added lane by lane in order,
// then the 8 lane sums by a fixed tree, the same additions at either width. `accumulator(a)`
// returns accumulator a.
template <int W, typename Accumulator>
KN_LANES_INLINE float total(Accumulator&& accumulator) {
  constexpr int kPerEight = 8 / W;  // accumulators that make up 8 lanes
  float lanes[8];
  for (int part = 0; part < kPerEight; ++part) {
    FloatVec<W> sum = accumulator(part);
    for (int a = part + kPerEight; a < kStep / W; a += kPerEight) sum += accumulator(a);
    __builtin_memcpy(lanes + part * W, &sum, sizeof sum);
  }
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

}  // namespace kn
