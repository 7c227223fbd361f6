#include "mpi_world.h"

#include <dlfcn.h>
#include <mpi.h>
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // Open MPI's extensions: MPIX_Query_cuda_support
#endif

#include <stdexcept>
#include <string>

namespace kn::mpi {
namespace {

bool started_here = false;

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(std::string(call) + " failed: " + std::string(text, length));
}

bool running() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void require_running() {
  if (!running()) throw std::runtime_error("MPI is not running: call init() first");
}

// Node loads an addon with RTLD_LOCAL, and libmpi, loaded as this addon's dependency, joins that
// local scope. MPI_Init then dlopens Open MPI's components (mca_*.so), some of which leave libmpi's
// symbols undefined, expecting them in the global scope, and fail to load ("undefined symbol")
// where nothing put libmpi there first. (Debian's Open MPI 4.1 gets away with it: a component that
// links libmpi itself is opened RTLD_GLOBAL first. Other builds and versions do not.) Opening the
// libmpi already loaded (RTLD_NOLOAD; found by the address of MPI_Init, so whatever soname the
// build linked) again with RTLD_GLOBAL adds it and its dependencies to the global scope. The handle
// is never closed: libmpi stays loaded until the process exits anyway.
void make_libmpi_global() {
  Dl_info library{};
  if (dladdr(reinterpret_cast<void*>(&MPI_Init), &library) == 0 || library.dli_fname == nullptr)
    throw std::runtime_error("cannot find the loaded MPI library (dladdr of MPI_Init failed)");
  if (dlopen(library.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) == nullptr)
    throw std::runtime_error(std::string("cannot reopen ") + library.dli_fname + " with RTLD_GLOBAL: " + dlerror());
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::kMax ? MPI_MAX : MPI_SUM; }

}  // namespace

void initialize() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  make_libmpi_global();
  // Most MPIs abort the process when MPI_Init fails; from here on MPI_COMM_WORLD returns errors.
  // `provided` is not checked: below FUNNELED (SINGLE) still works, as only one thread calls MPI.
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  started_here = true;
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
}

void finalize() {
  if (started_here && running()) MPI_Finalize();
}

World world() {
  require_running();
  World world;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &world.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &world.size), "MPI_Comm_size");
#if defined(OMPI_HAVE_MPI_EXT_CUDA) && OMPI_HAVE_MPI_EXT_CUDA
  world.cuda_aware = MPIX_Query_cuda_support() == 1;
#endif
  return world;
}

void all_gather(const double* send, int count, double* receive) {
  require_running();
  check(MPI_Allgather(send, count, MPI_DOUBLE, receive, count, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
}

void all_reduce(double* buffer, int count, ReduceOp op) {
  require_running();
  check(MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_DOUBLE, mpi_op(op), MPI_COMM_WORLD), "MPI_Allreduce");
}

void all_reduce(float* buffer, int count, ReduceOp op) {
  require_running();
  check(MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD), "MPI_Allreduce");
}

}  // namespace kn::mpi
