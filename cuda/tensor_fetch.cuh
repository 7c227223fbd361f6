// How a pass fetches the elements it reads of x (and of dy and y backward): GlobalFetch straight
// from global memory; in the persistent kernels (persistent_pass.cuh), RecordingFetch also keeps
// each packed vector in the block's shared memory as it loads it, and ReplayFetch reads it back
// from there in the second walk. Both walks visit a thread's elements in the same order, so a
// thread's n-th fetch is the same vector both times: it lives in slot n, at (n * threads + rank)
// packed vectors from the cache's start, so a warp touches consecutive shared addresses.
#pragma once

#include "device_io.cuh"

namespace kn::cuda {

struct GlobalFetch {
  template <typename T, int V>
  __device__ __forceinline__ void operator()(const T* tensor, int64_t first, float (&out)[V]) {
    load_floats<T, V>(tensor + first, out);
  }
};

// A thread's slots in a block's cache; `next` counts the fetches so far.
struct CacheSlots {
  unsigned char* cache;
  int rank;
  int threads;
  int next = 0;

  template <typename P>
  __device__ __forceinline__ P& take() {
    return reinterpret_cast<P*>(cache)[int64_t(next++) * threads + rank];
  }
};

struct RecordingFetch {
  CacheSlots slots;

  template <typename T, int V>
  __device__ __forceinline__ void operator()(const T* tensor, int64_t first, float (&out)[V]) {
    const Packed<T, V> packed = load_packed<T, V>(tensor + first);
    slots.take<Packed<T, V>>() = packed;
    unpack_floats<T, V>(packed, out);
  }
};

struct ReplayFetch {
  CacheSlots slots;

  template <typename T, int V>
  __device__ __forceinline__ void operator()(const T*, int64_t, float (&out)[V]) {
    unpack_floats<T, V>(slots.take<Packed<T, V>>(), out);
  }
};

}  // namespace kn::cuda
