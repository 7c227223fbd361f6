// A tensor's memory as the backends see it: a pointer (host or device, per backend) and the
// element type. Statistics and parameters are always float32 and travel as plain float pointers.
#pragma once

#include "host_device.h"

namespace kn {

enum class DType { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };  // numbered as in lib/binding.ts

KN_HOST_DEVICE int dtype_bytes(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

struct ConstTensor {
  const void* data = nullptr;
  DType dtype = DType::kFloat32;
  template <typename T>
  const T* as() const { return static_cast<const T*>(data); }
  explicit operator bool() const { return data != nullptr; }
};

struct MutableTensor {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  template <typename T>
  T* as() const { return static_cast<T*>(data); }
  explicit operator bool() const { return data != nullptr; }
};

}  // namespace kn
