// Inner loops accumulate in float across kLanes independent lanes (the compiler vectorizes them
// without reassociating anything) and hand each chunk's sums to double.
#include "cell_reductions.h"

#include <vector>

#include "chunk_plan.h"
#include "thread_pool.h"

namespace kn {
namespace {

constexpr int kLanes = 16;

float lane_total(const float* lanes) {
  float total = 0.f;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// Moments of a contiguous run (NCHW chunk).
Moments<double> run_moments(const float* x, int64_t length) {
  float sums[kLanes] = {};
  const int64_t full = length - length % kLanes;
  for (int64_t i = 0; i < full; i += kLanes)
    for (int l = 0; l < kLanes; ++l) sums[l] += x[i + l];
  float total = lane_total(sums);
  for (int64_t i = full; i < length; ++i) total += x[i];
  const float shift = total / float(length);

  float deviations[kLanes] = {}, squares[kLanes] = {};
  for (int64_t i = 0; i < full; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float d = x[i + l] - shift;
      deviations[l] += d;
      squares[l] += d * d;
    }
  double deviation_sum = lane_total(deviations), square_sum = lane_total(squares);
  for (int64_t i = full; i < length; ++i) {
    const float d = x[i] - shift;
    deviation_sum += d;
    square_sum += double(d) * d;
  }
  return moments_from_shifted_sums<double>(double(length), shift, deviation_sum, square_sum);
}

// Moments of each channel over `rows` rows of `channels` contiguous values (NHWC chunk).
void block_moments(const float* x, int64_t rows, int64_t channels, float* shift, float* deviations,
                   float* squares, Moments<double>* out) {
  for (int64_t c = 0; c < channels; ++c) shift[c] = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) shift[c] += x[r * channels + c];
  for (int64_t c = 0; c < channels; ++c) {
    shift[c] /= float(rows);
    deviations[c] = 0.f;
    squares[c] = 0.f;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      const float d = x[r * channels + c] - shift[c];
      deviations[c] += d;
      squares[c] += d * d;
    }
  for (int64_t c = 0; c < channels; ++c)
    out[c] = moments_from_shifted_sums<double>(double(rows), shift[c], deviations[c], squares[c]);
}

// Sums of a contiguous run (NCHW chunk) around one center.
template <bool kRelu>
GradientSums run_gradient_sums(const float* x, const float* dy, const float* y, int64_t length,
                               float center) {
  float sums[kLanes] = {}, products[kLanes] = {};
  const int64_t full = length - length % kLanes;
  for (int64_t i = 0; i < full; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float g = kRelu ? (y[i + l] > 0.f ? dy[i + l] : 0.f) : dy[i + l];
      sums[l] += g;
      products[l] += g * (x[i + l] - center);
    }
  GradientSums result{lane_total(sums), lane_total(products)};
  for (int64_t i = full; i < length; ++i) {
    const float g = kRelu ? (y[i] > 0.f ? dy[i] : 0.f) : dy[i];
    result.sum_dy += g;
    result.sum_dy_centered += double(g) * (x[i] - center);
  }
  return result;
}

// Per-channel sums over `rows` rows of `channels` contiguous values (NHWC chunk).
template <bool kRelu>
void block_gradient_sums(const float* x, const float* dy, const float* y, int64_t rows,
                         int64_t channels, const float* center, float* sums, float* products,
                         GradientSums* out) {
  for (int64_t c = 0; c < channels; ++c) sums[c] = products[c] = 0.f;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t row = r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float g = kRelu ? (y[row + c] > 0.f ? dy[row + c] : 0.f) : dy[row + c];
      sums[c] += g;
      products[c] += g * (x[row + c] - center[c]);
    }
  }
  for (int64_t c = 0; c < channels; ++c) out[c] = GradientSums{sums[c], products[c]};
}

// Runs `chunk_pass(sample, channel_or_0, chunk, offset, partial)` over the plan's items: per cell
// chunk in NCHW, per sample chunk (all channels) in NHWC.
template <typename Partial, typename ChunkPass>
std::vector<Partial> run_plan(const NormShape& shape, const ChunkPlan& plan, ChunkPass&& chunk_pass) {
  std::vector<Partial> partials(plan.partials());
  parallel_for(plan.items(), plan.elements_per_item(), [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t chunk = item % plan.chunks_per_cell();
      if (shape.layout == Layout::kNCHW) {
        const int64_t cell = item / plan.chunks_per_cell();
        const int64_t offset = cell * shape.spatial + plan.chunk_begin(chunk);
        chunk_pass(cell / shape.channels, cell % shape.channels, chunk, offset,
                   &partials[plan.partial_index(cell / shape.channels, cell % shape.channels, chunk)]);
      } else {
        const int64_t sample = item / plan.chunks_per_cell();
        const int64_t offset = (sample * shape.spatial + plan.chunk_begin(chunk)) * shape.channels;
        chunk_pass(sample, int64_t(0), chunk, offset, &partials[plan.partial_index(sample, 0, chunk)]);
      }
    }
  });
  return partials;
}

// Folds each cell's chunk partials, in chunk order, into cells[sample * C + channel].
template <typename Partial, typename Fold>
void fold_partials(const NormShape& shape, const ChunkPlan& plan, const std::vector<Partial>& partials,
                   Partial* cells, Fold&& fold) {
  parallel_for(shape.cells(), plan.chunks_per_cell(), [&](int64_t begin, int64_t end) {
    for (int64_t cell = begin; cell < end; ++cell) {
      const int64_t sample = cell / shape.channels, channel = cell % shape.channels;
      Partial total = partials[plan.partial_index(sample, channel, 0)];
      for (int64_t chunk = 1; chunk < plan.chunks_per_cell(); ++chunk)
        total = fold(total, partials[plan.partial_index(sample, channel, chunk)]);
      cells[cell] = total;
    }
  });
}

// Per-thread scratch for the NHWC per-channel accumulators.
float* scratch(int64_t floats) {
  thread_local std::vector<float> buffer;
  if (int64_t(buffer.size()) < floats) buffer.resize(floats);
  return buffer.data();
}

}  // namespace

void cell_moments(const NormShape& shape, const float* x, Moments<double>* cells) {
  const ChunkPlan plan(shape);
  const int64_t channels = shape.channels;
  const auto partials = run_plan<Moments<double>>(
      shape, plan, [&](int64_t, int64_t, int64_t chunk, int64_t offset, Moments<double>* out) {
        if (shape.layout == Layout::kNCHW) {
          *out = run_moments(x + offset, plan.chunk_size(chunk));
        } else {
          float* space = scratch(3 * channels);
          block_moments(x + offset, plan.chunk_size(chunk), channels, space, space + channels,
                        space + 2 * channels, out);
        }
      });
  fold_partials(shape, plan, partials, cells, merge_moments<double>);
}

void cell_gradient_sums(const NormShape& shape, const float* x, const float* dy,
                        const float* relu_output, const float* center, GradientSums* cells) {
  const ChunkPlan plan(shape);
  const int64_t channels = shape.channels;
  const auto partials = run_plan<GradientSums>(
      shape, plan,
      [&](int64_t sample, int64_t channel, int64_t chunk, int64_t offset, GradientSums* out) {
        const int64_t rows = plan.chunk_size(chunk);
        const float* y = relu_output ? relu_output + offset : nullptr;
        if (shape.layout == Layout::kNCHW) {
          const float c = center[sample * channels + channel];
          *out = y ? run_gradient_sums<true>(x + offset, dy + offset, y, rows, c)
                   : run_gradient_sums<false>(x + offset, dy + offset, y, rows, c);
        } else {
          float* space = scratch(2 * channels);
          const float* sample_center = center + sample * channels;
          if (y)
            block_gradient_sums<true>(x + offset, dy + offset, y, rows, channels, sample_center,
                                      space, space + channels, out);
          else
            block_gradient_sums<false>(x + offset, dy + offset, y, rows, channels, sample_center,
                                       space, space + channels, out);
        }
      });
  fold_partials(shape, plan, partials, cells, [](const GradientSums& a, const GradientSums& b) {
    return GradientSums{a.sum_dy + b.sum_dy, a.sum_dy_centered + b.sum_dy_centered};
  });
}

}  // namespace kn
