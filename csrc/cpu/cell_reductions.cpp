// Inner loops accumulate each chunk in float, in independent vector lanes, and hand its sums to
// double; chunks and cells are merged in double.
#include "cell_reductions.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "chunk_plan.h"
#include "float_lanes.h"
#include "thread_pool.h"

namespace kn {
namespace {

// Moments of a contiguous run (NCHW chunk).
Moments<double> run_moments(const float* x, int64_t length) {
  const int64_t full = length - length % kStep;
  Float4 sums[kGroups] = {};
  for (int64_t i = 0; i < full; i += kStep)
    for (int g = 0; g < kGroups; ++g) sums[g] += load4(x + i + 4 * g);
  float sum = total(sums);
  for (int64_t i = full; i < length; ++i) sum += x[i];
  const float shift = sum / float(length);

  const Float4 shift4 = broadcast4(shift);
  Float4 deviations[kGroups] = {}, squares[kGroups] = {};
  for (int64_t i = 0; i < full; i += kStep)
    for (int g = 0; g < kGroups; ++g) {
      const Float4 d = load4(x + i + 4 * g) - shift4;
      deviations[g] += d;
      squares[g] += d * d;
    }
  double deviation_sum = total(deviations), square_sum = total(squares);
  for (int64_t i = full; i < length; ++i) {
    const float d = x[i] - shift;
    deviation_sum += d;
    square_sum += double(d) * d;
  }
  return moments_from_shifted_sums<double>(double(length), shift, deviation_sum, square_sum);
}

// Sum of all lanes of one field of the groups, in the order of total(Float4 groups).
float total(const GradientSums<Float4> (&groups)[kGroups], Float4 GradientSums<Float4>::*field) {
  Float4 sum = groups[0].*field;
  for (int g = 1; g < kGroups; ++g) sum += groups[g].*field;
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// Sums of a contiguous run (NCHW chunk) around one center.
template <bool kRelu>
GradientSums<double> run_gradient_sums(const float* x, const float* dy, const float* y, int64_t length,
                                       float center) {
  const int64_t full = length - length % kStep;
  const Float4 center4 = broadcast4(center);
  GradientSums<Float4> lanes[kGroups] = {};
  for (int64_t i = 0; i < full; i += kStep)
    for (int g = 0; g < kGroups; ++g) {
      const int64_t at = i + 4 * g;
      const Float4 grad = kRelu ? relu_gradient(load4(dy + at), load4(y + at)) : load4(dy + at);
      gradient_add(lanes[g], grad, load4(x + at), center4);
    }
  GradientSums<double> result{total(lanes, &GradientSums<Float4>::sum_dy), total(lanes, &GradientSums<Float4>::sum_dy_centered)};
  for (int64_t i = full; i < length; ++i) {
    const float g = kRelu ? relu_gradient(dy[i], y[i]) : dy[i];
    result.sum_dy += g;
    result.sum_dy_centered += double(g) * (x[i] - center);
  }
  return result;
}

// NHWC chunks: `rows` rows of `channels` floats, channels contiguous. Every sweep walks the chunk
// in blocks of kRowBlock rows; within a block, 4 channels at a time (one vector), each channel's
// accumulator stays in a register across the block's rows, and is kept between blocks in a
// thread-local array (one float per channel). Each channel adds its rows in row order, so the block
// size does not change the bits. Each row of a block is its own stream of memory (two in the
// backward): with blocks of 8 rows the backward of 2x2048x7x7 was 20% slower than with 4.

constexpr int64_t kRowBlock = 4;

// Loads one float, or a Float4 when kVector.
template <bool kVector>
auto load(const float* p) {
  if constexpr (kVector) return load4(p);
  else return *p;
}

template <bool kVector, typename V>
void store(float* p, V value) {
  if constexpr (kVector) store4(p, value);
  else *p = value;
}

// Calls block(c, first, block_rows, vector) for every block of rows and every channel vector
// (then each channel left over): `first` is the memory index of the block's first row at channel
// c, the block's rows follow at a stride of `channels`; `vector` is std::true_type for 4 channels.
template <typename Block>
void sweep_rows(int64_t rows, int64_t channels, Block&& block) {
  const int64_t vectors = channels - channels % 4;
  for (int64_t r = 0; r < rows; r += kRowBlock) {
    const int64_t block_rows = std::min(kRowBlock, rows - r);
    for (int64_t c = 0; c < vectors; c += 4) block(c, r * channels + c, block_rows, std::true_type{});
    for (int64_t c = vectors; c < channels; ++c) block(c, r * channels + c, block_rows, std::false_type{});
  }
}

thread_local std::vector<float> accumulators;

// Two zeroed arrays of `channels` floats (thread-local, reused from chunk to chunk).
std::pair<float*, float*> zeroed_pair(int64_t channels) {
  accumulators.assign(size_t(2 * channels), 0.f);
  return {accumulators.data(), accumulators.data() + channels};
}

// One sweep: each channel's deviations from its value in the chunk's first row. A shift that is one
// of the values bounds the cancellation (m2 >= (shift - mean)^2, so the sum of squares is at most
// rows + 1 times m2), where a two-sweep shift by the chunk mean read the chunk twice.
void block_moments(const float* x, int64_t rows, int64_t channels, Moments<double>* out) {
  auto [sums, squares] = zeroed_pair(channels);
  const float* shift = x;  // the first row
  sweep_rows(rows, channels, [&](int64_t c, int64_t first, int64_t block_rows, auto vector) {
    constexpr bool kVector = decltype(vector)::value;
    auto deviation = load<kVector>(sums + c), square = load<kVector>(squares + c);
    const auto center = load<kVector>(shift + c);
    for (int64_t r = 0; r < block_rows; ++r) {
      const auto d = load<kVector>(x + first + r * channels) - center;
      deviation += d;
      square += d * d;
    }
    store<kVector>(sums + c, deviation);
    store<kVector>(squares + c, square);
  });
  for (int64_t c = 0; c < channels; ++c)
    out[c] = moments_from_shifted_sums<double>(double(rows), shift[c], sums[c], squares[c]);
}

template <bool kRelu>
void block_gradient_sums(const float* x, const float* dy, const float* y, int64_t rows,
                         int64_t channels, const float* center, GradientSums<double>* out) {
  auto [sums_dy, sums_centered] = zeroed_pair(channels);
  sweep_rows(rows, channels, [&](int64_t c, int64_t first, int64_t block_rows, auto vector) {
    constexpr bool kVector = decltype(vector)::value;
    using V = decltype(load<kVector>(x));
    GradientSums<V> sums{load<kVector>(sums_dy + c), load<kVector>(sums_centered + c)};
    const V channel_center = load<kVector>(center + c);
    for (int64_t r = 0; r < block_rows; ++r) {
      const int64_t at = first + r * channels;
      V grad = load<kVector>(dy + at);
      if constexpr (kRelu) grad = relu_gradient(grad, load<kVector>(y + at));  // y is null without relu
      gradient_add(sums, grad, load<kVector>(x + at), channel_center);
    }
    store<kVector>(sums_dy + c, sums.sum_dy);
    store<kVector>(sums_centered + c, sums.sum_dy_centered);
  });
  for (int64_t c = 0; c < channels; ++c) out[c] = GradientSums<double>{sums_dy[c], sums_centered[c]};
}

// Runs `chunk_pass(first_cell, chunk, offset, partials)` over the plan's items in order: per cell
// chunk in NCHW (one partial), per sample chunk in NHWC (the sample's C cells from first_cell, one
// partial each). Item i's partials start at plan.partial_index of its first cell and chunk, which
// is i (NCHW) or i * C (NHWC). A piece steps its items' cell (or sample) and chunk instead of
// dividing for each: with small cells the divisions cost more than the cell's reduction.
template <typename Partial, typename ChunkPass>
std::vector<Partial> run_plan(const NormShape& shape, const ChunkPlan& plan, ChunkPass&& chunk_pass) {
  std::vector<Partial> partials(plan.partials());
  const bool nchw = shape.layout == Layout::kNCHW;
  const int64_t chunks = plan.chunks_per_cell();
  parallel_for(plan.items(), plan.elements_per_item(), [&](int64_t begin, int64_t end) {
    int64_t row = begin / chunks, chunk = begin % chunks;  // row: the cell (NCHW) or the sample (NHWC)
    for (int64_t item = begin; item < end; ++item) {
      if (nchw) chunk_pass(row, chunk, row * shape.spatial + plan.chunk_begin(chunk), &partials[item]);
      else chunk_pass(row * shape.channels, chunk, (row * shape.spatial + plan.chunk_begin(chunk)) * shape.channels,
                      &partials[item * shape.channels]);
      if (++chunk == chunks) {
        chunk = 0;
        ++row;
      }
    }
  });
  return partials;
}

// Folds each cell's chunk partials, in chunk order, into cells[sample * C + channel]. The channel
// loop is innermost so that consecutive merges are independent (no chain of divisions).
template <typename Partial, typename Fold>
void fold_partials(const NormShape& shape, const ChunkPlan& plan, const std::vector<Partial>& partials,
                   Partial* cells, Fold&& fold) {
  const int64_t channels = shape.channels;
  parallel_for(shape.samples, plan.partials() / shape.samples * kPerUnitCost, [&](int64_t begin, int64_t end) {
    for (int64_t sample = begin; sample < end; ++sample) {
      Partial* sample_cells = cells + sample * channels;
      for (int64_t c = 0; c < channels; ++c) sample_cells[c] = partials[plan.partial_index(sample, c, 0)];
      for (int64_t chunk = 1; chunk < plan.chunks_per_cell(); ++chunk)
        for (int64_t c = 0; c < channels; ++c)
          sample_cells[c] = fold(sample_cells[c], partials[plan.partial_index(sample, c, chunk)]);
    }
  });
}

}  // namespace

void cell_moments(const NormShape& shape, const float* x, Moments<double>* cells) {
  const ChunkPlan plan(shape);
  const int64_t channels = shape.channels;
  const auto partials = run_plan<Moments<double>>(
      shape, plan, [&](int64_t, int64_t chunk, int64_t offset, Moments<double>* out) {
        if (shape.layout == Layout::kNCHW) {
          *out = run_moments(x + offset, plan.chunk_size(chunk));
        } else {
          block_moments(x + offset, plan.chunk_size(chunk), channels, out);
        }
      });
  fold_partials(shape, plan, partials, cells, merge_moments<double>);
}

void cell_gradient_sums(const NormShape& shape, const float* x, const float* dy,
                        const float* relu_output, const float* center, GradientSums<double>* cells) {
  const ChunkPlan plan(shape);
  const int64_t channels = shape.channels;
  const auto partials = run_plan<GradientSums<double>>(
      shape, plan,
      [&](int64_t first_cell, int64_t chunk, int64_t offset, GradientSums<double>* out) {
        const int64_t rows = plan.chunk_size(chunk);
        const float* y = relu_output ? relu_output + offset : nullptr;
        if (shape.layout == Layout::kNCHW) {
          const float c = center[first_cell];
          *out = y ? run_gradient_sums<true>(x + offset, dy + offset, y, rows, c)
                   : run_gradient_sums<false>(x + offset, dy + offset, y, rows, c);
        } else {
          const float* sample_center = center + first_cell;
          if (y) block_gradient_sums<true>(x + offset, dy + offset, y, rows, channels, sample_center, out);
          else block_gradient_sums<false>(x + offset, dy + offset, y, rows, channels, sample_center, out);
        }
      });
  fold_partials(shape, plan, partials, cells, [](const GradientSums<double>& a, const GradientSums<double>& b) {
    return merge_gradient_sums(a, b);  // a lambda, so that the fold inlines it
  });
}

}  // namespace kn
