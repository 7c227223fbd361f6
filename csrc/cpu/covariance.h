// ProductBlend (csrc/common/covariance_math.h) on the CPU: one entry per item, spread over the pool.
#pragma once

#include "../common/covariance_math.h"

namespace kn {

void product_blend(const ProductBlend& f);

}  // namespace kn
