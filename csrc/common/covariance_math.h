// The input node's statistics and the covariance transition (KN-SPEC sections 3a, 3b), written once
// for both backends. Element functors run one index at a time (a CPU loop, or one CUDA thread per
// index: transitions.cu). ProductBlend is a matrix product whose CPU loop (csrc/cpu/covariance.cpp)
// and tiled CUDA kernel (covariance.cu) share its element accessors and its epilogue. All buffers
// are float32, row-major; every sum runs in double in increasing index order, so both backends add
// the same terms in the same order.
#pragma once

#include "host_device.h"

#if !defined(__CUDACC__)
#include <cmath>
#include <cstdint>
#endif

namespace kn {

#if !defined(__CUDACC__)
using std::sqrt;
#endif

// new = keep * old + fresh; keep == 0 ignores old (the first observation: uninitialized memory,
// or a NaN left in it, must not leak into the estimate).
KN_HOST_DEVICE double blend(double old, double fresh, double keep) { return keep != 0.0 ? keep * old + fresh : fresh; }

// Where a convolution's patch vectors come from. Patch p = (n * out_h + oy) * out_w + ox, feature
// f = (c * kernel_h + ki) * kernel_w + kj (the order of a kernel [Cout, Cin, kh, kw] flattened),
// value x[n][c][oy * stride_h - pad_h + ki][ox * stride_w - pad_w + kj], zero outside the image.
// A fully connected input is one patch per sample covering the whole image.
struct PatchGeometry {
  int64_t channels, height, width;
  int64_t kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w;
  int64_t out_h, out_w;
  bool channels_last;  // x in NHWC memory order (the logical order stays [N, C, H, W])
  KN_HOST_DEVICE int64_t features() const { return channels * kernel_h * kernel_w; }
  KN_HOST_DEVICE float value(const float* x, int64_t patch, int64_t feature) const {
    const int64_t positions = out_h * out_w, n = patch / positions, position = patch % positions;
    const int64_t oy = position / out_w, ox = position % out_w;
    const int64_t taps = kernel_h * kernel_w, c = feature / taps, tap = feature % taps;
    const int64_t y = oy * stride_h - pad_h + tap / kernel_w, xx = ox * stride_w - pad_w + tap % kernel_w;
    if (y < 0 || y >= height || xx < 0 || xx >= width) return 0.0f;
    const int64_t pixel = y * width + xx, image = n * channels * height * width;
    return x[image + (channels_last ? pixel * channels + c : c * height * width + pixel)];
  }
};

// The patch matrix [patches][features], index = p * features + f.
struct GatherPatches {
  PatchGeometry geometry;
  const float* x;
  float* patches;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t features = geometry.features();
    patches[index] = geometry.value(x, index / features, index % features);
  }
};

// Column means of the patch matrix, index = feature.
struct ColumnMeans {
  int64_t rows, columns;
  const float* values;
  float* means;
  KN_HOST_DEVICE void operator()(int64_t c) const {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += values[r * columns + c];
    means[c] = float(sum / double(rows));
  }
};

// Centers the patch matrix in place, index = p * columns + f.
struct CenterColumns {
  int64_t columns;
  const float* means;
  float* values;
  KN_HOST_DEVICE void operator()(int64_t index) const { values[index] -= means[index % columns]; }
};

// One running estimate per index: target = blend(target, take * fresh, keep) (the EMA of the mean).
struct BlendInto {
  const float* fresh;
  double keep, take;
  float* target;
  KN_HOST_DEVICE void operator()(int64_t index) const { target[index] = float(blend(target[index], take * fresh[index], keep)); }
};

// The running variances, index = feature: var = blend(var, scale * sum over patches of centered^2, keep)
// (scale = momentum / (P - 1): the unbiased batch covariance, see docs/LINKED-LAYERS.md).
struct VarianceUpdate {
  int64_t rows, columns;
  const float* centered;
  double keep, scale;
  float* var;
  KN_HOST_DEVICE void operator()(int64_t c) const {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += double(centered[r * columns + c]) * centered[r * columns + c];
    var[c] = float(blend(var[c], scale * sum, keep));
  }
};

// c[m][n] = blend(c[m][n], scale * sum over k of A(m, k) B(k, n), keep), c row-major [rows][columns].
// A and B are read through strides, so a transpose is only a choice of strides: the covariance
// X^T X, the product W Sigma, the factor products W L and Z L^T, and a factor's Gram matrix.
struct ProductBlend {
  int64_t rows, columns, depth;
  const float* a;
  int64_t a_row, a_depth;  // A(m, k) = a[m * a_row + k * a_depth]
  const float* b;
  int64_t b_depth, b_column;  // B(k, n) = b[k * b_depth + n * b_column]
  double scale, keep;
  float* c;
  KN_HOST_DEVICE float a_at(int64_t m, int64_t k) const { return a[m * a_row + k * a_depth]; }
  KN_HOST_DEVICE float b_at(int64_t k, int64_t n) const { return b[k * b_depth + n * b_column]; }
  KN_HOST_DEVICE void store(int64_t m, int64_t n, double total) const {
    c[m * columns + n] = float(blend(c[m * columns + n], scale * total, keep));
  }
};

// The covariance transition forward, index = output o, with the input covariance in one of three
// forms (the others null): u_o = w_o . sigma_w_o (full: sigma_w = W Sigma) + |z_o|^2 (low rank:
// z = W L) + sum_i diagonal_i w_oi^2 (diagonal, or the low-rank form's d) + noise; m_o = w_o . mu + bias.
struct QuadraticForward {
  int64_t inputs, rank;
  const float *mean, *weight, *sigma_w, *projected, *diagonal, *bias, *noise;
  bool noise_per_output;
  float *out_mean, *out_var;
  KN_HOST_DEVICE void operator()(int64_t o) const {
    const float* w = weight + o * inputs;
    double m = bias ? bias[o] : 0.0f, u = noise ? noise[noise_per_output ? o : 0] : 0.0f;
    for (int64_t i = 0; i < inputs; ++i) {
      m += double(w[i]) * mean[i];
      if (sigma_w) u += double(w[i]) * sigma_w[o * inputs + i];
      if (diagonal) u += double(w[i]) * w[i] * diagonal[i];
    }
    for (int64_t j = 0; j < rank; ++j) u += double(projected[o * rank + j]) * projected[o * rank + j];
    out_mean[o] = float(m);
    out_var[o] = float(u);
  }
};

// Its gradient into the weight, index = o * inputs + i: dW_oi = dm_o mu_i + 2 du_o (Sigma w_o)_i,
// with (Sigma w_o) = sigma_w_oi (full: W Sigma; low rank: Z L^T) + diagonal_i w_oi.
struct QuadraticWeightGradient {
  int64_t inputs;
  const float *mean, *weight, *sigma_w, *diagonal, *dmean_out, *dvar_out;  // all but mean, weight may be null
  float* dweight;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t o = index / inputs, i = index % inputs;
    const double sigma_w_i = (sigma_w ? double(sigma_w[index]) : 0.0) + (diagonal ? double(diagonal[i]) * weight[index] : 0.0);
    dweight[index] = float((dmean_out ? double(dmean_out[o]) * mean[i] : 0.0) + (dvar_out ? 2.0 * dvar_out[o] * sigma_w_i : 0.0));
  }
};

// The low-rank update's stacked factor F [features][width], index = i * width + j, width = rank +
// chunk: F = [sqrt(keep) L, sqrt(scale) X_chunk^T], so F F^T = keep L L^T + scale X_chunk^T X_chunk.
struct StackFactor {
  int64_t rank, chunk, features;
  const float *factor, *centered;  // L [features][rank]; the centered patch rows of this chunk
  double keep, scale;
  float* stacked;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t width = rank + chunk, i = index / width, j = index % width;
    stacked[index] = float(j < rank ? (keep != 0.0 ? sqrt(keep) * factor[i * rank + j] : 0.0)
                                    : sqrt(scale) * centered[(j - rank) * features + i]);
  }
};

// After the truncation L = F V_k: what the rank-k factor dropped from the diagonal moves into d,
// index = feature: d = blend(d, sum_j F_ij^2 - sum_j L_ij^2, keep), clamped at 0 against rounding.
// So diag(L L^T) + d is exactly the EMA of the variances; only off-diagonal mass is truncated.
struct DroppedDiagonal {
  int64_t rank, width;
  const float *stacked, *factor;
  double keep;
  float* diagonal;
  KN_HOST_DEVICE void operator()(int64_t i) const {
    double dropped = 0.0;
    for (int64_t j = 0; j < width; ++j) dropped += double(stacked[i * width + j]) * stacked[i * width + j];
    for (int64_t j = 0; j < rank; ++j) dropped -= double(factor[i * rank + j]) * factor[i * rank + j];
    diagonal[i] = float(blend(diagonal[i], dropped > 0.0 ? dropped : 0.0, keep));
  }
};

}  // namespace kn
