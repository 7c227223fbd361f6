// The CUDA side of ProductBlend (covariance_math.h): a tiled matrix product.
#pragma once

#include <cuda_runtime_api.h>

#include "../csrc/common/covariance_math.h"
#include "cuda_check.h"

namespace kn::cuda {

// Queues f's product on `stream`; failures throw CudaError.
void run_product(const ProductBlend& f, cudaStream_t stream);

}  // namespace kn::cuda
