// The eigenvectors of a small symmetric matrix (the low-rank covariance update's Gram matrix,
// at most a few hundred rows), on the host whatever the tensors' device.
#pragma once

#include <cstdint>

namespace kn {

// matrix: [size][size] symmetric, row-major. Writes the eigenvectors of the `rank` largest
// eigenvalues as the columns of vectors [size][rank], largest first (cyclic Jacobi, in double).
void top_eigenvectors(const float* matrix, int64_t size, int64_t rank, float* vectors);

}  // namespace kn
