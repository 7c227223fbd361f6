// ProductBlend (covariance_math.h) on the GPU: C [rows][columns] = blend(C, scale * A B, keep), the
// covariance X^T X of the input node and W Sigma of the covariance transition (no cuBLAS).
// Layout: A and B through strides, C row-major. Work: one 16 x 16 block of threads per 16 x 16 tile
// of C; the depth runs in steps of 16 through two shared-memory tiles, and each thread adds its
// entry's terms in double in increasing k, the order of the CPU loop.
#include "covariance_cuda.h"

namespace kn::cuda {
namespace {

constexpr int kTile = 16;

__global__ void __launch_bounds__(kTile * kTile) product_kernel(ProductBlend f) {
  __shared__ float a_tile[kTile][kTile + 1];  // +1: no bank conflicts on the column reads
  __shared__ float b_tile[kTile][kTile + 1];
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
  const int64_t m = int64_t(blockIdx.y) * kTile + ty, n = int64_t(blockIdx.x) * kTile + tx;
  const int64_t a_m = int64_t(blockIdx.y) * kTile + ty, b_n = int64_t(blockIdx.x) * kTile + tx;
  double total = 0.0;
  for (int64_t k0 = 0; k0 < f.depth; k0 += kTile) {
    a_tile[ty][tx] = a_m < f.rows && k0 + tx < f.depth ? f.a_at(a_m, k0 + tx) : 0.0f;
    b_tile[ty][tx] = k0 + ty < f.depth && b_n < f.columns ? f.b_at(k0 + ty, b_n) : 0.0f;
    __syncthreads();
    const int steps = f.depth - k0 < kTile ? int(f.depth - k0) : kTile;
    for (int k = 0; k < steps; ++k) total += double(a_tile[ty][k]) * double(b_tile[k][tx]);
    __syncthreads();
  }
  if (m < f.rows && n < f.columns) f.store(m, n, total);
}

}  // namespace

void run_product(const ProductBlend& f, cudaStream_t stream) {
  if (f.rows <= 0 || f.columns <= 0) return;
  const dim3 grid(unsigned((f.columns + kTile - 1) / kTile), unsigned((f.rows + kTile - 1) / kTile));
  product_kernel<<<grid, kTile * kTile, 0, stream>>>(f);
  check_launch("covariance", "product_kernel");
}

}  // namespace kn::cuda
