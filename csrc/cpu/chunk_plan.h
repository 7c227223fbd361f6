// How the reduction passes cut a tensor into independent, cache-sized work items, in a way that
// depends on the shape alone (never on the thread count), so that results are deterministic.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../common/norm_shape.h"

namespace kn {

// NCHW: an item is a run of up to kRunLength positions of one cell, contiguous in memory.
// NHWC: an item is a block of consecutive positions of one sample, all channels (channels are
// contiguous, so per-channel accumulators vectorize). Each item leaves one partial result per
// (cell, chunk); partials are merged in chunk order afterwards.
class ChunkPlan {
 public:
  static constexpr int64_t kRunLength = 1024;    // NCHW: elements per item
  // NHWC: target elements per item (256 KB: the sweeps over a chunk re-read it from L2). Smaller
  // chunks mean more partials: at 8192, a C = 2048 chunk was 8 rows, and its partials (24 bytes
  // per channel and chunk) were written and folded again at 75% of x's bytes.
  static constexpr int64_t kBlockElements = 65536;
  static constexpr int64_t kMinBlockRows = 8;
  static constexpr int64_t kMaxBlockRows = 64;     // float accumulators see at most this many terms

  explicit ChunkPlan(const NormShape& shape) : shape_(shape) {
    if (shape.layout == Layout::kNCHW) {
      chunk_length_ = std::min<int64_t>(shape.spatial, kRunLength);
    } else {
      const int64_t rows = std::clamp<int64_t>(kBlockElements / shape.channels, kMinBlockRows, kMaxBlockRows);
      chunk_length_ = std::min<int64_t>(shape.spatial, rows);
    }
    chunks_ = (shape.spatial + chunk_length_ - 1) / chunk_length_;
  }

  int64_t chunks_per_cell() const { return chunks_; }
  int64_t chunk_length() const { return chunk_length_; }  // positions per chunk (the last may be short)
  int64_t partials() const { return shape_.cells() * chunks_; }

  int64_t items() const {
    return shape_.layout == Layout::kNCHW ? shape_.cells() * chunks_ : shape_.samples * chunks_;
  }
  int64_t elements_per_item() const {
    return shape_.layout == Layout::kNCHW ? chunk_length_ : chunk_length_ * shape_.channels;
  }

  // Where the partial of (sample, channel, chunk) lives; the chunks of a cell are found by
  // stepping `chunk` and, in NHWC, the channels of one item are contiguous.
  int64_t partial_index(int64_t sample, int64_t channel, int64_t chunk) const {
    if (shape_.layout == Layout::kNCHW) return (sample * shape_.channels + channel) * chunks_ + chunk;
    return (sample * chunks_ + chunk) * shape_.channels + channel;
  }

  int64_t chunk_begin(int64_t chunk) const { return chunk * chunk_length_; }
  int64_t chunk_size(int64_t chunk) const {
    return std::min(chunk_length_, shape_.spatial - chunk * chunk_length_);
  }

 private:
  NormShape shape_;
  int64_t chunk_length_ = 1;
  int64_t chunks_ = 1;
};

}  // namespace kn
