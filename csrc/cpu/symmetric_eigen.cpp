#include "symmetric_eigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace kn {

void top_eigenvectors(const float* matrix, int64_t size, int64_t rank, float* vectors) {
  std::vector<double> a(matrix, matrix + size * size), v(size * size, 0.0);
  for (int64_t i = 0; i < size; ++i) v[i * size + i] = 1.0;
  // Sweeps of plane rotations until the off-diagonal part is negligible against the diagonal.
  for (int sweep = 0; sweep < 64; ++sweep) {
    double off = 0.0, diagonal = 0.0;
    for (int64_t i = 0; i < size; ++i) {
      diagonal += a[i * size + i] * a[i * size + i];
      for (int64_t j = i + 1; j < size; ++j) off += a[i * size + j] * a[i * size + j];
    }
    if (!(off > 1e-30 * diagonal)) break;  // also stops on NaN
    for (int64_t p = 0; p < size; ++p)
      for (int64_t q = p + 1; q < size; ++q) {
        const double apq = a[p * size + q];
        if (apq == 0.0) continue;
        const double theta = (a[q * size + q] - a[p * size + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < size; ++k) {  // columns p, q
          const double akp = a[k * size + p], akq = a[k * size + q];
          a[k * size + p] = c * akp - s * akq;
          a[k * size + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < size; ++k) {  // rows p, q
          const double apk = a[p * size + k], aqk = a[q * size + k];
          a[p * size + k] = c * apk - s * aqk;
          a[q * size + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < size; ++k) {
          const double vkp = v[k * size + p], vkq = v[k * size + q];
          v[k * size + p] = c * vkp - s * vkq;
          v[k * size + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int64_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[x * size + x] > a[y * size + y]; });
  for (int64_t i = 0; i < size; ++i)
    for (int64_t j = 0; j < rank; ++j) vectors[i * rank + j] = j < size ? float(v[i * size + order[j]]) : 0.0f;
}

}  // namespace kn
