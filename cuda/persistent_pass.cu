#include "persistent_pass.cuh"

#include <atomic>
#include <map>

namespace kn::cuda {
namespace {

// Room for the kernel's own static shared memory (the guard's lanes: 2 KiB) below the opt-in limit.
constexpr size_t kStaticSharedReserve = 8 * 1024;

std::atomic<bool> persistent_enabled{true};

}  // namespace

bool persistent_passes_enabled() { return persistent_enabled.load(std::memory_order_relaxed); }

void set_persistent_passes(bool on) { persistent_enabled.store(on, std::memory_order_relaxed); }

PersistentDevice persistent_device(const char* op) {
  static std::mutex lock;
  static std::map<int, PersistentDevice> devices;  // read once each: attribute queries are not free
  int device = 0;
  check(cudaGetDevice(&device), op, "cudaGetDevice");
  std::lock_guard<std::mutex> guard(lock);
  const auto known = devices.find(device);
  if (known != devices.end()) return known->second;
  int sms = 0, cooperative = 0, shared = 0;
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), op, "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device), op, "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), op, "cudaDeviceGetAttribute");
  const size_t budget = size_t(shared) > kStaticSharedReserve ? size_t(shared) - kStaticSharedReserve : 0;
  const PersistentDevice found{device, cooperative ? sms : 0, budget};
  devices.emplace(device, found);
  return found;
}

}  // namespace kn::cuda
