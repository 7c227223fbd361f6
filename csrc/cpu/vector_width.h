// Which float vectors the CPU kernels' loops run on: 8 floats (AVX2) where the CPU has AVX2, else
// 4 (SSE2, every x86-64). One build holds both: the AVX2 loops are the same source compiled for
// AVX2 inside a function that has the target attribute. The bits are the same at either width
// (float_lanes.h), so results do not depend on the machine's vector unit. KN_CPU_VECTOR_WIDTH=4
// keeps the SSE2 loops on an AVX2 machine (for comparisons and the tests).
#pragma once

#include <cstdint>
#include <type_traits>

#include "thread_pool.h"

namespace kn {

// 8 or 4: the floats per vector of this process's CPU kernels (fixed at the first call).
int cpu_vector_width();

template <int W>
using VectorWidth = std::integral_constant<int, W>;

#if defined(__x86_64__)
// flatten inlines every call inside, so the whole body (its kernels and their lambdas) is compiled
// for AVX2 here; no vector crosses a call between AVX2 and baseline code.
template <typename Body>
__attribute__((target("avx2"), flatten)) void run_avx2(const Body& body, int64_t begin, int64_t end) {
  body(begin, end, VectorWidth<8>{});
}
#endif

// parallel_for (thread_pool.h) over a body that takes the vector width as a third argument:
// body(begin, end, VectorWidth<W>{}) with W = cpu_vector_width().
template <typename Body>
void parallel_for_vectors(int64_t count, int64_t cost_per_item, const Body& body) {
#if defined(__x86_64__)
  if (cpu_vector_width() == 8) {
    parallel_for(count, cost_per_item, [&](int64_t begin, int64_t end) { run_avx2(body, begin, end); });
    return;
  }
#endif
  parallel_for(count, cost_per_item, [&](int64_t begin, int64_t end) { body(begin, end, VectorWidth<4>{}); });
}

}  // namespace kn
