#include "vector_width.h"

#include <cstdlib>
#include <cstring>

namespace kn {
namespace {

int detected_width() {
  const char* forced = std::getenv("KN_CPU_VECTOR_WIDTH");
  if (forced && std::strcmp(forced, "4") == 0) return 4;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return 8;
#endif
  return 4;
}

}  // namespace

int cpu_vector_width() {
  static const int width = detected_width();
  return width;
}

}  // namespace kn
