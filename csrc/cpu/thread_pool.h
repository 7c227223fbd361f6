// One process-wide pool of worker threads for the CPU kernels (not a thread per call).
#pragma once

#include <cstdint>
#include <functional>

namespace kn {

// Runs body(begin, end) over disjoint pieces covering [0, count), on the pool's workers and the
// calling thread, and returns when every piece is done. `cost_per_item` (elements touched per
// item) decides whether the work is worth spreading: small jobs stay on the calling thread.
// Results must not depend on which thread ran a piece; callers keep them deterministic.
// When a piece throws (on any thread), pieces not yet started are skipped and, once every thread
// has left `body`, the first exception is rethrown on the calling thread.
void parallel_for(int64_t count, int64_t cost_per_item,
                  const std::function<void(int64_t begin, int64_t end)>& body);

// parallel_for's cost of one step of per-cell or per-unit work (a merge in double with its division,
// a logarithm), in elements touched: such loops are short but slow per item, and worth spreading
// from a few thousand items on.
constexpr int64_t kPerUnitCost = 32;

// Threads that take part in a parallel_for (workers plus the caller).
int thread_count();

}  // namespace kn
