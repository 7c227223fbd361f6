// The CPU side of the transition ops (csrc/common/transition_functors.h): f(i) for every index, a
// plain loop, spread over the pool only when there are many (the statistic rows are small).
#pragma once

#include <stdint.h>

#include "thread_pool.h"

namespace kn {

template <typename F>
void run_elementwise(const F& f, int64_t count) {
  constexpr int64_t kCostPerIndex = 64;
  parallel_for(count, kCostPerIndex, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(i);
  });
}

}  // namespace kn
