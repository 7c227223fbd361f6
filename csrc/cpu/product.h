// ProductBlend (cuda/covariance_math.h) on the CPU: one entry per item, spread over the pool.
#pragma once

#include "../../cuda/covariance_math.h"

namespace kn {

void product_blend(const ProductBlend& f);

}  // namespace kn
