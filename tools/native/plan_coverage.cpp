// planCoverage({ shape, vectorWidth }): walks every thread of the CUDA launch plan
// (cuda/reduction_plan.h) on the CPU, exactly as the kernels do, and counts what it touches, so
// that the tests check the GPU's index arithmetic on machines without a GPU
// (test/reduction-plan.test.ts).
#include <algorithm>
#include <vector>

#include "arguments.h"
#include "cuda/reduction_plan.h"
#include "tools.h"

namespace kn::tools {
namespace {

struct Coverage {
  std::vector<uint8_t> touched;           // per element, saturating
  std::vector<uint8_t> partial_written;   // per partial, saturating
  int64_t out_of_bounds = 0;
  int64_t wrong_cell = 0;
  int64_t max_steps = 0;

  void touch(const NormShape& shape, int64_t element, int64_t expected_cell) {
    if (element < 0 || element >= shape.elements()) {
      ++out_of_bounds;
      return;
    }
    if (touched[size_t(element)] < 255) ++touched[size_t(element)];
    if (shape.cell_of_element(element) != expected_cell) ++wrong_cell;
  }
  void write_partial(int64_t index) {
    if (index < 0 || index >= int64_t(partial_written.size())) {
      ++out_of_bounds;
      return;
    }
    if (partial_written[size_t(index)] < 255) ++partial_written[size_t(index)];
  }
};

void walk_runs(const ReductionPlan& plan, Coverage& coverage) {
  const NormShape& shape = plan.shape;
  for (int64_t item = 0; item < plan.items(); ++item) {
    const RunItem run = run_item(plan, item);
    for (int lane = 0; lane < kWarp; ++lane) {
      int64_t step = 0;
      for (;; ++step) {
        const int64_t first = run_element(plan, run, lane, step);
        if (first < 0) break;
        for (int i = 0; i < plan.vector_width; ++i) coverage.touch(shape, first + i, run.cell);
      }
      coverage.max_steps = std::max(coverage.max_steps, step);
    }
    coverage.write_partial(plan.partial_index(run.cell / shape.channels, run.cell % shape.channels, run.chunk));
  }
}

void walk_tiles(const ReductionPlan& plan, Coverage& coverage) {
  const NormShape& shape = plan.shape;
  for (int64_t item = 0; item < plan.items(); ++item) {
    const TileItem tile = tile_item(plan, item);
    for (int row_lane = 0; row_lane < plan.row_lanes; ++row_lane)
      for (int channel_lane = 0; channel_lane < plan.tile_channels; ++channel_lane) {
        const int64_t cell = tile.sample * shape.channels + tile.channel_begin + channel_lane;
        int64_t step = 0;
        for (;; ++step) {
          const int64_t element = tile_element(plan, tile, channel_lane, row_lane, step);
          if (element < 0) break;
          coverage.touch(shape, element, cell);
        }
        coverage.max_steps = std::max(coverage.max_steps, step);
      }
    for (int64_t channel = 0; channel < tile.channels; ++channel)
      coverage.write_partial(plan.partial_index(tile.sample, tile.channel_begin + channel, tile.chunk));
  }
}

int64_t count_where(const std::vector<uint8_t>& counts, bool (*test)(uint8_t)) {
  return std::count_if(counts.begin(), counts.end(), test);
}

Napi::Value plan_coverage(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const NormShape shape = shape_field(args, "shape");
  const int vector_width = int(integer_field(args, "vectorWidth", 1, 8));
  if (vector_width != 1 && vector_width != 4 && vector_width != 8) throw_range(info.Env(), "vectorWidth: expected 1, 4 or 8");
  if (shape.elements() > (int64_t(1) << 28)) throw_range(info.Env(), "shape: too large to walk");
  const ReductionPlan plan = make_reduction_plan(shape, vector_width);
  Coverage coverage;
  coverage.touched.assign(size_t(shape.elements()), 0);
  coverage.partial_written.assign(size_t(plan.partials()), 0);
  if (plan.runs()) walk_runs(plan, coverage);
  else walk_tiles(plan, coverage);

  const Napi::Env env = info.Env();
  auto result = Napi::Object::New(env);
  result.Set("items", double(plan.items()));
  result.Set("chunks", double(plan.chunks));
  result.Set("vectorWidth", plan.vector_width);
  result.Set("maxSteps", double(coverage.max_steps));
  result.Set("missed", double(count_where(coverage.touched, [](uint8_t n) { return n == 0; })));
  result.Set("repeated", double(count_where(coverage.touched, [](uint8_t n) { return n > 1; })));
  result.Set("outOfBounds", double(coverage.out_of_bounds));
  result.Set("wrongCell", double(coverage.wrong_cell));
  result.Set("partialsMissed", double(count_where(coverage.partial_written, [](uint8_t n) { return n == 0; })));
  result.Set("partialsRepeated", double(count_where(coverage.partial_written, [](uint8_t n) { return n > 1; })));
  return result;
}

}  // namespace

void register_plan_coverage(Napi::Env env, Napi::Object exports) {
  exports.Set("planCoverage", Napi::Function::New(env, plan_coverage, "planCoverage"));
}

}  // namespace kn::tools
