// ProductBlend (covariance_math.h) on the GPU: C [rows][columns] = blend(C, scale * A B, keep), the
// covariance X^T X of the input node and W Sigma of the covariance transition (no cuBLAS).
// Layout: A and B through strides, C row-major. Work: one 16 x 16 block of threads per 16 x 16 tile
// of C; the depth runs in steps of 16 through two shared-memory tiles (each loaded along its
// operand's contiguous direction), and each thread adds its entry's terms in double in increasing
// k, the order of the CPU loop.
#include "covariance_cuda.h"
#include "kernel_launch.cuh"

namespace kn::cuda {
namespace {

constexpr int kTile = 16;

__global__ void __launch_bounds__(kTile * kTile) product_kernel(ProductBlend f) {
  __shared__ float a_tile[kTile][kTile + 1];  // +1: no bank conflicts on the column reads
  __shared__ float b_tile[kTile][kTile + 1];
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
  const int64_t m = int64_t(blockIdx.y) * kTile + ty, n = int64_t(blockIdx.x) * kTile + tx;
  const int64_t m0 = int64_t(blockIdx.y) * kTile, n0 = int64_t(blockIdx.x) * kTile;
  // Each tile is loaded along the operand's contiguous direction, so a warp's loads coalesce
  // whichever strides the product uses (the choice is uniform over the block).
  const bool a_rows_contiguous = f.a_depth == 1, b_rows_contiguous = f.b_column == 1;
  double total = 0.0;
  for (int64_t k0 = 0; k0 < f.depth; k0 += kTile) {
    {  // a_tile[i][k] = A(m0 + i, k0 + k)
      const int i = a_rows_contiguous ? ty : tx, k = a_rows_contiguous ? tx : ty;
      a_tile[i][k] = m0 + i < f.rows && k0 + k < f.depth ? f.a_at(m0 + i, k0 + k) : 0.0f;
    }
    {  // b_tile[k][j] = B(k0 + k, n0 + j)
      const int k = b_rows_contiguous ? ty : tx, j = b_rows_contiguous ? tx : ty;
      b_tile[k][j] = k0 + k < f.depth && n0 + j < f.columns ? f.b_at(k0 + k, n0 + j) : 0.0f;
    }
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
  const int64_t row_tiles = (f.rows + kTile - 1) / kTile;
  if (row_tiles > 65535) throw CudaError("covariance: product_kernel: at most 1048560 rows (the grid's y limit)");
  const dim3 grid(unsigned((f.columns + kTile - 1) / kTile), unsigned(row_tiles));
  launch_kernel(product_kernel, grid, kTile * kTile, 0, stream, f);
  check_launch("covariance", "product_kernel");
}

}  // namespace kn::cuda
