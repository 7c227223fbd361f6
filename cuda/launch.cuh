// Host-side launch helpers shared by the forward and backward drivers.
#pragma once

#include <stdint.h>

#include "../csrc/common/tensor_ref.h"
#include "cuda_check.h"
#include "element_passes.cuh"
#include "cell_reductions.cuh"
#include "workspace.h"

namespace kn::cuda {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls run(TypeTag<T>{}) with T the element type of `dtype`.
template <typename Run>
void with_dtype(DType dtype, Run&& run) {
  switch (dtype) {
    case DType::kFloat16: run(TypeTag<__half>{}); break;
    case DType::kBFloat16: run(TypeTag<__nv_bfloat16>{}); break;
    default: run(TypeTag<float>{}); break;
  }
}

inline bool aligned16(const void* pointer) { return (reinterpret_cast<uintptr_t>(pointer) & 15u) == 0; }

// 16-byte vectors of T when every given address allows them, else single elements.
template <typename T>
int vector_width_for(std::initializer_list<const void*> pointers) {
  for (const void* pointer : pointers)
    if (pointer && !aligned16(pointer)) return 1;
  return kVectorWidth<T>;
}

// Launches the statistics kernel of `policy` over the plan: one partial per (cell, chunk) into
// `partials` (plan.partials() States), then `finish` in the last block (cell_reductions.cuh).
// `ticket` is the workspace's (workspace.h): zero before the launch, zero again after it.
template <typename Policy, typename Finish>
void launch_statistics(const ReductionPlan& plan, const Policy& policy, typename Policy::State* partials, unsigned* ticket,
                       const Finish& finish, cudaStream_t stream, const char* op) {
  using State = typename Policy::State;
  constexpr int kVector = kVectorWidth<typename Policy::Element>;
  const PlanLaunch launch = plan_launch(plan);
  if (plan.runs()) {
    if (plan.vector_width == kVector)
      launch_kernel(run_statistics_kernel<Policy, kVector, Finish>, launch.blocks, launch.threads, 0, stream,
          plan, policy, partials, ticket, finish);
    else
      launch_kernel(run_statistics_kernel<Policy, 1, Finish>, launch.blocks, launch.threads, 0, stream,
          plan, policy, partials, ticket, finish);
    check_launch(op, "run_statistics_kernel");
  } else {
    const size_t shared = size_t(plan.tile_channels) * plan.row_lanes * sizeof(State);
    launch_kernel(tile_statistics_kernel<Policy, Finish>, launch.blocks, launch.threads, shared, stream,
        plan, policy, partials, ticket, finish);
    check_launch(op, "tile_statistics_kernel");
  }
}

// Launches `finish` alone in one block (finish_kernel).
template <typename Finish>
void launch_finish(const Finish& finish, cudaStream_t stream, const char* op) {
  launch_kernel(finish_kernel<Finish>, 1, kBlockThreads, 0, stream, finish);
  check_launch(op, "finish_kernel");
}

}  // namespace kn::cuda
