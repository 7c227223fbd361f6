// Independent functors run as one: each over its own range of one index space, one after the
// other, so the parts of a node's backward are one kernel launch on the GPU (and one loop on the
// CPU). No part may read what another part writes.
#pragma once

#include <stdint.h>

#include "host_device.h"

namespace kn {

// first(i) for i in [0, first_count), then second(i - first_count) for the indices after.
template <typename First, typename Second>
struct Then {
  First first;
  int64_t first_count;
  Second second;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    if (index < first_count) first(index);
    else second(index - first_count);
  }
};

template <typename First, typename Second>
Then<First, Second> then(const First& first, int64_t first_count, const Second& second) {
  return Then<First, Second>{first, first_count, second};
}

}  // namespace kn
