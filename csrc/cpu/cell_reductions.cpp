// Drives the chunk kernels (NCHW: chunk_kernels.h; NHWC: below) over every cell: inner loops
// accumulate each chunk in float, in independent vector lanes, and hand its sums to double; chunks
// are merged in double.
#include "cell_reductions.h"

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <type_traits>
#include <utility>
#include <vector>

#include "chunk_kernels.h"
#include "chunk_plan.h"
#include "scratch.h"
#include "thread_pool.h"
#include "vector_width.h"

namespace kn {
namespace {

using namespace chunk_kernels;

// NHWC chunks: `rows` rows of `channels` floats, channels contiguous. Every sweep walks the chunk
// in blocks of kRowBlock rows; within a block, W channels at a time (one vector), each channel's
// accumulator stays in a register across the block's rows, and is kept between blocks in a
// thread-local array (one float per channel). Each channel adds its rows in row order, so the block
// size does not change the bits. Each row of a block is its own stream of memory (two in the
// backward): with blocks of 8 rows the backward of 2x2048x7x7 was 20% slower than with 4.

constexpr int64_t kRowBlock = 4;

// Loads one float (V = 1), or a vector of V floats.
template <int V>
KN_LANES_INLINE auto load_channels(const float* p) {
  if constexpr (V > 1) return load<V>(p);
  else return *p;
}

template <int V, typename T>
KN_LANES_INLINE void store_channels(float* p, T value) {
  if constexpr (V > 1) store<V>(p, value);
  else *p = value;
}

// Rows of 128 to 256 channels (512 B to 1 KB) are short streams that the hardware prefetcher takes
// up late, so a sweep asks for the chunk's rows two blocks ahead, a line at a time as it goes. KN's
// 32x128x28x28 NHWC backward took 2.4 to 2.8 ms without, 1.8 to 2.1 with; 32x256x14x14: 0.69 and
// 0.62. With 64 and 512 channels it was 4 to 5% slower, with 2048 15% (the rows ahead then crowd
// the L1 cache), so those go without.
constexpr int64_t kPrefetchAhead = 2 * kRowBlock;
constexpr int64_t kLineFloats = 16;

bool prefetches(int64_t channels) { return channels >= 128 && channels <= 256; }

// Calls block(c, first, block_rows, VectorWidth<V>) for every block of rows and every vector of W
// channels (then each channel left over, V = 1): `first` is the memory index of the block's first
// row at channel c, the block's rows follow at a stride of `channels`. `tensors` are the chunks the
// blocks read (null: none), for the prefetch.
template <int W, typename Block>
KN_LANES_INLINE void sweep_rows(int64_t rows, int64_t channels, std::initializer_list<const float*> tensors,
                                Block&& block) {
  const int64_t vectors = channels - channels % W;
  const bool prefetch = prefetches(channels);
  for (int64_t r = 0; r < rows; r += kRowBlock) {
    const int64_t block_rows = std::min(kRowBlock, rows - r);
    const int64_t ahead_rows = prefetch ? std::clamp<int64_t>(rows - r - kPrefetchAhead, 0, kRowBlock) : 0;
    for (int64_t c = 0; c < vectors; c += W) {
      if (ahead_rows > 0 && c % kLineFloats == 0)
        for (const float* tensor : tensors)
          for (int64_t k = 0; tensor && k < ahead_rows; ++k)
            __builtin_prefetch(tensor + (r + kPrefetchAhead + k) * channels + c);
      block(c, r * channels + c, block_rows, VectorWidth<W>{});
    }
    for (int64_t c = vectors; c < channels; ++c) block(c, r * channels + c, block_rows, VectorWidth<1>{});
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
template <int W>
KN_LANES_INLINE void block_moments(const float* x, int64_t rows, int64_t channels, Moments<double>* out) {
  auto [sums, squares] = zeroed_pair(channels);
  const float* shift = x;  // the first row
  sweep_rows<W>(rows, channels, {x}, [&](int64_t c, int64_t first, int64_t block_rows, auto width) {
    constexpr int V = decltype(width)::value;
    auto deviation = load_channels<V>(sums + c), square = load_channels<V>(squares + c);
    const auto center = load_channels<V>(shift + c);
    for (int64_t r = 0; r < block_rows; ++r) {
      const auto d = load_channels<V>(x + first + r * channels) - center;
      deviation += d;
      square += d * d;
    }
    store_channels<V>(sums + c, deviation);
    store_channels<V>(squares + c, square);
  });
  for (int64_t c = 0; c < channels; ++c)
    out[c] = moments_from_shifted_sums<double>(double(rows), shift[c], sums[c], squares[c]);
}

template <int W, bool kRelu>
KN_LANES_INLINE void block_gradient_sums(const float* x, const float* dy, const float* y, int64_t rows,
                                         int64_t channels, const float* center, GradientSums<double>* out) {
  auto [sums_dy, sums_centered] = zeroed_pair(channels);
  sweep_rows<W>(rows, channels, {x, dy, y}, [&](int64_t c, int64_t first, int64_t block_rows, auto width) {
    constexpr int V = decltype(width)::value;
    using T = decltype(load_channels<V>(x));
    GradientSums<T> sums{load_channels<V>(sums_dy + c), load_channels<V>(sums_centered + c)};
    const T channel_center = load_channels<V>(center + c);
    for (int64_t r = 0; r < block_rows; ++r) {
      const int64_t at = first + r * channels;
      T grad = load_channels<V>(dy + at);
      if constexpr (kRelu) grad = relu_gradient(grad, load_channels<V>(y + at));  // y is null without relu
      gradient_add(sums, grad, load_channels<V>(x + at), channel_center);
    }
    store_channels<V>(sums_dy + c, sums.sum_dy);
    store_channels<V>(sums_centered + c, sums.sum_dy_centered);
  });
  for (int64_t c = 0; c < channels; ++c) out[c] = GradientSums<double>{sums_dy[c], sums_centered[c]};
}

// NCHW: one item per cell, its chunks (runs of the plan's length) reduced by run_pass(width, sample,
// channel, offset, length) and folded in chunk order, in the item: no partials are stored and folded
// afterwards. A piece steps its cells' sample and channel instead of dividing for each.
template <typename Partial, typename RunPass, typename Fold>
void reduce_runs(const NormShape& shape, const ChunkPlan& plan, Partial* cells, RunPass&& run_pass, Fold&& fold) {
  parallel_for_vectors(shape.cells(), shape.spatial, [&](int64_t begin, int64_t end, auto width) {
    int64_t sample = begin / shape.channels, channel = begin % shape.channels;
    for (int64_t cell = begin; cell < end; ++cell) {
      const int64_t offset = cell * shape.spatial;
      cells[cell] = plan.fold_chunks(
          [&](int64_t at, int64_t length) -> Partial { return run_pass(width, sample, channel, offset + at, length); },
          fold);
      if (++channel == shape.channels) {
        channel = 0;
        ++sample;
      }
    }
  });
}

// NHWC: block_pass(width, first_cell, offset, rows, out) writes the C partials of a chunk (rows of every
// channel: narrower channel blocks made the passes 4 to 6% slower at micro-batch), and each cell
// folds its chunks in chunk order. With at least two samples a thread, an item is a sample:
// its first chunk is written into its cells, each later one into a thread-local row of partials
// and folded at once. With fewer (micro-batches), an item is one (sample, chunk), so that a sample
// is spread over the threads: the item that finishes a sample's last chunk (whichever it is) folds
// the sample's stored partials. The items do not change the bits.
template <typename Partial, typename BlockPass, typename Fold>
void reduce_blocks(const NormShape& shape, const ChunkPlan& plan, Partial* cells, BlockPass&& block_pass,
                   Fold&& fold) {
  const int64_t channels = shape.channels, chunks = plan.chunks_per_cell();
  const auto chunk_offset = [&](int64_t sample, int64_t chunk) {
    return (sample * shape.spatial + plan.chunk_begin(chunk)) * channels;
  };
  const auto fold_into = [&](Partial* out, const Partial* partials) {
    for (int64_t c = 0; c < channels; ++c) out[c] = fold(out[c], partials[c]);
  };
  if (chunks == 1 || shape.samples >= 2 * thread_count()) {
    parallel_for_vectors(shape.samples, shape.spatial * channels, [&](int64_t begin, int64_t end, auto width) {
      thread_local std::vector<Partial> chunk_partials;
      chunk_partials.resize(size_t(chunks > 1 ? channels : 0));
      for (int64_t sample = begin; sample < end; ++sample) {
        Partial* out = cells + sample * channels;
        block_pass(width, sample * channels, chunk_offset(sample, 0), plan.chunk_size(0), out);
        for (int64_t chunk = 1; chunk < chunks; ++chunk) {
          block_pass(width, sample * channels, chunk_offset(sample, chunk), plan.chunk_size(chunk),
                     chunk_partials.data());
          fold_into(out, chunk_partials.data());
        }
      }
    });
    return;
  }
  const Scratch<Partial> partials = scratch<Partial>(shape.cells() * chunks);
  std::vector<std::atomic<int64_t>> unfinished(size_t(shape.samples));
  for (auto& count : unfinished) count.store(chunks, std::memory_order_relaxed);
  const int64_t chunk_cost = plan.chunk_length() * channels;
  parallel_for_vectors(shape.samples * chunks, chunk_cost, [&](int64_t begin, int64_t end, auto width) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t sample = item / chunks, chunk = item % chunks;
      Partial* sample_partials = partials.get() + sample * chunks * channels;  // [chunk][channel]
      block_pass(width, sample * channels, chunk_offset(sample, chunk), plan.chunk_size(chunk),
                 sample_partials + chunk * channels);
      // acq_rel: the last finisher sees every other chunk's partials of the sample.
      if (unfinished[size_t(sample)].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
      Partial* out = cells + sample * channels;
      std::copy(sample_partials, sample_partials + channels, out);
      for (int64_t k = 1; k < chunks; ++k) fold_into(out, sample_partials + k * channels);
    }
  });
}

// The centers of a sample's C cells, one per channel: its unit row's values, each repeated over the
// channels of its unit (a thread-local copy where a unit has several channels, stepped, not divided).
const float* sample_centers(const NormShape& shape, const float* unit_center, int64_t sample) {
  const float* row = unit_center + (sample / shape.samples_per_unit) * shape.unit_cols();
  if (shape.channels_per_unit == 1) return row;
  thread_local std::vector<float> centers;
  centers.resize(size_t(shape.channels));
  for (int64_t column = 0, c = 0; column < shape.unit_cols(); ++column)
    for (int64_t k = 0; k < shape.channels_per_unit; ++k, ++c) centers[size_t(c)] = row[column];
  return centers.data();
}

}  // namespace

void cell_moments(const NormShape& shape, const float* x, Moments<double>* cells) {
  const ChunkPlan plan(shape);
  if (shape.layout == Layout::kNCHW) {
    reduce_runs(shape, plan, cells,
                [&](auto width, int64_t, int64_t, int64_t offset, int64_t length) {
                  return run_moments<decltype(width)::value>(x + offset, length);
                },
                merge_moments<double>);
  } else {
    reduce_blocks(shape, plan, cells,
                  [&](auto width, int64_t, int64_t offset, int64_t rows, Moments<double>* out) {
                    block_moments<decltype(width)::value>(x + offset, rows, shape.channels, out);
                  },
                  merge_moments<double>);
  }
}

void cell_gradient_sums(const NormShape& shape, const float* x, const float* dy,
                        const float* relu_output, const float* unit_center, GradientSums<double>* cells) {
  const ChunkPlan plan(shape);
  const auto fold = [](const GradientSums<double>& a, const GradientSums<double>& b) {
    return merge_gradient_sums(a, b);  // a lambda, so that the fold inlines it
  };
  if (shape.layout == Layout::kNCHW) {
    reduce_runs(shape, plan, cells,
                [&](auto width, int64_t sample, int64_t channel, int64_t offset, int64_t length) {
                  const float c = shape.channels_per_unit == 1  // KN: one division, not three
                                      ? unit_center[(sample / shape.samples_per_unit) * shape.channels + channel]
                                      : unit_center[shape.unit_of_cell(sample, channel)];
                  constexpr int W = decltype(width)::value;
                  return relu_output
                             ? run_gradient_sums<W, true>(x + offset, dy + offset, relu_output + offset, length, c)
                             : run_gradient_sums<W, false>(x + offset, dy + offset, nullptr, length, c);
                },
                fold);
  } else {
    reduce_blocks(shape, plan, cells,
                  [&](auto width, int64_t first_cell, int64_t offset, int64_t rows, GradientSums<double>* out) {
                    constexpr int W = decltype(width)::value;
                    const int64_t channels = shape.channels;
                    const float* sample_center = sample_centers(shape, unit_center, first_cell / channels);
                    if (relu_output)
                      block_gradient_sums<W, true>(x + offset, dy + offset, relu_output + offset, rows, channels,
                                                   sample_center, out);
                    else
                      block_gradient_sums<W, false>(x + offset, dy + offset, nullptr, rows, channels, sample_center, out);
                  },
                  fold);
  }
}

}  // namespace kn
