#include "covariance.h"

#include "thread_pool.h"

namespace kn {
namespace {

// Entries of one row computed side by side: each keeps its own sum in increasing k (the order of
// the CUDA kernel), and the independent sums hide the latency of the additions.
constexpr int64_t kBlock = 8;

}  // namespace

void product_blend(const ProductBlend& f) {
  const int64_t blocks_per_row = (f.columns + kBlock - 1) / kBlock;
  parallel_for(f.rows * blocks_per_row, f.depth * kBlock, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t m = item / blocks_per_row, n0 = item % blocks_per_row * kBlock;
      const int64_t width = f.columns - n0 < kBlock ? f.columns - n0 : kBlock;
      double totals[kBlock] = {};
      for (int64_t k = 0; k < f.depth; ++k) {
        const double a = f.a_at(m, k);
        for (int64_t j = 0; j < width; ++j) totals[j] += a * double(f.b_at(k, n0 + j));
      }
      for (int64_t j = 0; j < width; ++j) f.store(m, n0 + j, totals[j]);
    }
  });
}

}  // namespace kn
