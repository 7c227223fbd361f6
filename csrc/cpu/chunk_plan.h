// How the reduction passes cut each cell into chunks, in a way that depends on the shape alone
// (never on the thread count), so that results are deterministic.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../common/norm_shape.h"

namespace kn {

// How each cell's S positions are cut into chunks: a chunk is reduced in float lanes and handed to
// double, and a cell's chunks are merged in chunk order, so the chunks (not the items of work, which
// cell_reductions.cpp chooses) decide the bits. NCHW: a chunk is a run of up to kRunLength positions
// of one cell, contiguous in memory. NHWC: a chunk is a block of consecutive positions (rows) of one
// sample; the channels of a row are contiguous, so per-channel accumulators vectorize.
class ChunkPlan {
 public:
  static constexpr int64_t kRunLength = 1024;  // NCHW: elements per chunk
  // NHWC: rows per chunk, whatever C: float accumulators see at most this many terms. Fewer rows
  // mean more partials (24 bytes per channel and chunk) and merges: 32-row chunks at C = 2048 made
  // KN's 2x2048x7x7 NHWC forward 1.6 times as long.
  static constexpr int64_t kBlockRows = 64;

  explicit ChunkPlan(const NormShape& shape) : shape_(shape) {
    if (shape.layout == Layout::kNCHW) {
      chunk_length_ = std::min<int64_t>(shape.spatial, kRunLength);
    } else {
      chunk_length_ = std::min<int64_t>(shape.spatial, kBlockRows);
    }
    chunks_ = (shape.spatial + chunk_length_ - 1) / chunk_length_;
  }

  int64_t chunks_per_cell() const { return chunks_; }
  int64_t chunk_length() const { return chunk_length_; }  // positions per chunk (the last may be short)

  int64_t chunk_begin(int64_t chunk) const { return chunk * chunk_length_; }
  int64_t chunk_size(int64_t chunk) const {
    return std::min(chunk_length_, shape_.spatial - chunk * chunk_length_);
  }

  // A cell's partial: chunk_fn(begin, length) of each chunk, folded in chunk order (every pass that
  // reduces runs folds them here, so their bits agree).
  template <typename ChunkFn, typename Fold>
  auto fold_chunks(ChunkFn&& chunk_fn, Fold&& fold) const {
    auto total = chunk_fn(chunk_begin(0), chunk_size(0));
    for (int64_t chunk = 1; chunk < chunks_; ++chunk) total = fold(total, chunk_fn(chunk_begin(chunk), chunk_size(chunk)));
    return total;
  }

 private:
  NormShape shape_;
  int64_t chunk_length_ = 1;
  int64_t chunks_ = 1;
};

}  // namespace kn
