#include "product.h"

#include "thread_pool.h"

namespace kn {

void product_blend(const ProductBlend& f) {
  parallel_for(f.rows * f.columns, f.depth, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t m = index / f.columns, n = index % f.columns;
      f.store(m, n, f.sum(m, n));
    }
  });
}

}  // namespace kn
