// Host-side launch helpers shared by the forward and backward drivers.
#pragma once

#include <stdint.h>

#include "cuda_check.h"
#include "element_passes.cuh"
#include "cell_reductions.cuh"

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

// Runs the reduction of `policy` over the plan and folds it into one State per cell.
template <typename Policy>
void reduce_cells(const ReductionPlan& plan, const Policy& policy, typename Policy::State* cells,
                  cudaStream_t stream, const char* op) {
  using State = typename Policy::State;
  constexpr int kVector = kVectorWidth<typename Policy::Element>;
  Scratch<State> partials(plan.partials(), stream, op);
  const PlanLaunch launch = plan_launch(plan);
  if (plan.runs()) {
    if (plan.vector_width == kVector)
      launch_kernel(run_partials_kernel<Policy, kVector>, launch.blocks, launch.threads, 0, stream,
          plan, policy, partials.get());
    else
      launch_kernel(run_partials_kernel<Policy, 1>, launch.blocks, launch.threads, 0, stream,
          plan, policy, partials.get());
    check_launch(op, "run_partials_kernel");
  } else {
    const size_t shared = size_t(plan.tile_channels) * plan.row_lanes * sizeof(State);
    launch_kernel(tile_partials_kernel<Policy>, launch.blocks, launch.threads, shared, stream,
        plan, policy, partials.get());
    check_launch(op, "tile_partials_kernel");
  }
  launch_kernel(fold_cells_kernel<Policy>, blocks_for(plan.shape.cells(), kBlockThreads), kBlockThreads, 0, stream,
      plan, partials.get(), cells);
  check_launch(op, "fold_cells_kernel");
}

}  // namespace kn::cuda
