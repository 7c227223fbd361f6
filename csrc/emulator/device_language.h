// What a kernel file sees of CUDA C++ when the SIMT emulator compiles it as host C++: the
// qualifiers, built-in index variables, vector types, block and warp synchronization, atomics and
// the device math functions the kernels use. Threads of a block run as fibers (scheduler.cpp);
// every synchronizing call takes its call site, so a report names the kernel's file and line.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <source_location>
#include <type_traits>

// Qualifiers. __shared__ variables become statics in their own section: one kernel runs at a time
// and the blocks of a launch one after another, so a static is the block's, and the scheduler
// fills the section with NaN before each block (unwritten shared memory reads as NaN).
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static __attribute__((section("kn_emu_shared")))
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

// Vector types with CUDA's sizes and alignments, and their make_ functions.
#define KN_EMU_VECTOR2(name, type, align)                                                      \
  struct alignas(align) name {                                                                 \
    type x, y;                                                                                 \
  };                                                                                           \
  inline name make_##name(type x, type y) { return name{x, y}; }
#define KN_EMU_VECTOR4(name, type, align)                                                      \
  struct alignas(align) name {                                                                 \
    type x, y, z, w;                                                                           \
  };                                                                                           \
  inline name make_##name(type x, type y, type z, type w) { return name{x, y, z, w}; }
KN_EMU_VECTOR2(float2, float, 8)
KN_EMU_VECTOR4(float4, float, 16)
KN_EMU_VECTOR2(int2, int, 8)
KN_EMU_VECTOR4(int4, int, 16)
KN_EMU_VECTOR2(uint2, unsigned, 8)
KN_EMU_VECTOR4(uint4, unsigned, 16)
KN_EMU_VECTOR2(double2, double, 16)
KN_EMU_VECTOR2(longlong2, long long, 16)
#undef KN_EMU_VECTOR2
#undef KN_EMU_VECTOR4

// The running thread's coordinates: set by the scheduler each time it resumes a fiber.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace kn_emu {

enum class WarpOp { kShfl, kShflUp, kShflDown, kShflXor, kSync, kBallot, kAny, kAll };

// The fiber-side entry points (scheduler.cpp). Each may switch to another fiber of the block.
void block_barrier(const std::source_location& where);
void grid_barrier(const std::source_location& where);
uint64_t warp_op(WarpOp op, unsigned mask, uint64_t value, int argument, int width, const std::source_location& where);
unsigned active_mask();
// The running block's dynamic shared memory (KN_DYNAMIC_SHARED).
void* dynamic_shared_memory();

template <typename T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_memory());
}

template <typename T>
T shuffle(WarpOp op, unsigned mask, T value, int argument, int width, const std::source_location& where) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "a shuffled value is at most 8 bytes");
  uint64_t bits = 0;
  memcpy(&bits, &value, sizeof(T));
  bits = warp_op(op, mask, bits, argument, width, where);
  T result;
  memcpy(&result, &bits, sizeof(T));
  return result;
}

}  // namespace kn_emu

inline void __syncthreads(std::source_location where = std::source_location::current()) { kn_emu::block_barrier(where); }
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location where = std::source_location::current()) {
  kn_emu::warp_op(kn_emu::WarpOp::kSync, mask, 0, 0, warpSize, where);
}
inline unsigned __activemask() { return kn_emu::active_mask(); }

template <typename T>
T __shfl_sync(unsigned mask, T value, int source_lane, int width = warpSize,
              std::source_location where = std::source_location::current()) {
  return kn_emu::shuffle(kn_emu::WarpOp::kShfl, mask, value, source_lane, width, where);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                 std::source_location where = std::source_location::current()) {
  return kn_emu::shuffle(kn_emu::WarpOp::kShflUp, mask, value, int(delta), width, where);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                   std::source_location where = std::source_location::current()) {
  return kn_emu::shuffle(kn_emu::WarpOp::kShflDown, mask, value, int(delta), width, where);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,
                  std::source_location where = std::source_location::current()) {
  return kn_emu::shuffle(kn_emu::WarpOp::kShflXor, mask, value, lane_mask, width, where);
}
inline unsigned __ballot_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return unsigned(kn_emu::warp_op(kn_emu::WarpOp::kBallot, mask, predicate != 0, 0, warpSize, where));
}
inline int __any_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return int(kn_emu::warp_op(kn_emu::WarpOp::kAny, mask, predicate != 0, 0, warpSize, where));
}
inline int __all_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return int(kn_emu::warp_op(kn_emu::WarpOp::kAll, mask, predicate != 0, 0, warpSize, where));
}

// Memory fences: fibers of one kernel share one host thread, so only the compiler must not reorder.
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// Atomics: integer ones as host atomics, floating-point adds as compare-and-swap loops.
#define KN_EMU_INTEGER_ATOMICS(T)                                                                           \
  inline T atomicAdd(T* address, T value) { return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST); } \
  inline T atomicSub(T* address, T value) { return __atomic_fetch_sub(address, value, __ATOMIC_SEQ_CST); } \
  inline T atomicAnd(T* address, T value) { return __atomic_fetch_and(address, value, __ATOMIC_SEQ_CST); } \
  inline T atomicOr(T* address, T value) { return __atomic_fetch_or(address, value, __ATOMIC_SEQ_CST); }   \
  inline T atomicXor(T* address, T value) { return __atomic_fetch_xor(address, value, __ATOMIC_SEQ_CST); } \
  inline T atomicExch(T* address, T value) { return __atomic_exchange_n(address, value, __ATOMIC_SEQ_CST); } \
  inline T atomicMax(T* address, T value) {                                                                \
    T old = __atomic_load_n(address, __ATOMIC_SEQ_CST);                                                    \
    while (old < value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST,      \
                                                       __ATOMIC_SEQ_CST)) {                                \
    }                                                                                                      \
    return old;                                                                                            \
  }                                                                                                        \
  inline T atomicMin(T* address, T value) {                                                                \
    T old = __atomic_load_n(address, __ATOMIC_SEQ_CST);                                                    \
    while (value < old && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST,      \
                                                       __ATOMIC_SEQ_CST)) {                                \
    }                                                                                                      \
    return old;                                                                                            \
  }                                                                                                        \
  inline T atomicCAS(T* address, T compare, T value) {                                                     \
    __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);      \
    return compare;                                                                                        \
  }
KN_EMU_INTEGER_ATOMICS(int)
KN_EMU_INTEGER_ATOMICS(unsigned)
KN_EMU_INTEGER_ATOMICS(unsigned long long)
#undef KN_EMU_INTEGER_ATOMICS

namespace kn_emu {
template <typename F, typename Bits>
F atomic_float_add(F* address, F value) {
  static_assert(sizeof(F) == sizeof(Bits));
  Bits* bits = reinterpret_cast<Bits*>(address);
  Bits old = __atomic_load_n(bits, __ATOMIC_SEQ_CST), updated;
  F before;
  do {
    memcpy(&before, &old, sizeof(F));
    const F sum = before + value;
    memcpy(&updated, &sum, sizeof(F));
  } while (!__atomic_compare_exchange_n(bits, &old, updated, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  return before;
}
}  // namespace kn_emu

inline float atomicAdd(float* address, float value) { return kn_emu::atomic_float_add<float, uint32_t>(address, value); }
inline double atomicAdd(double* address, double value) { return kn_emu::atomic_float_add<double, uint64_t>(address, value); }

// Device math that has no host namesake.
inline float rsqrtf(float value) { return 1.0f / sqrtf(value); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float value) { return expf(value); }
inline float __logf(float value) { return logf(value); }
inline float __saturatef(float value) { return value < 0.f ? 0.f : (value > 1.f ? 1.f : value); }
