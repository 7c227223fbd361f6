// MPI_COMM_WORLD for the communicator of lib/distributed/mpi.ts: start and end MPI, and the two
// collectives on host doubles and floats. No Node-API here: a failure throws std::runtime_error
// with MPI's own text, which the addon (mpi_addon.cpp) turns into a JavaScript Error.
#pragma once

namespace kn::mpi {

enum class ReduceOp { kSum, kMax };

struct World {
  int rank = 0;
  int size = 1;
  // Open MPI built with CUDA support (MPIX_Query_cuda_support); false for other MPIs.
  bool cuda_aware = false;
};

// Starts MPI (MPI_THREAD_FUNNELED: only the JavaScript thread calls it) unless it runs already,
// started by another library in the process, which then ends it too.
void initialize();

// Ends MPI if initialize() started it and it has not ended yet.
void finalize();

// Each throws when MPI is not running (an MPI call then would abort the process).
World world();
// MPI_Allgather: `count` values from every rank, in rank order, into `receive` (size * count).
void all_gather(const double* send, int count, double* receive);
// MPI_Allreduce in place.
void all_reduce(double* buffer, int count, ReduceOp op);
void all_reduce(float* buffer, int count, ReduceOp op);

}  // namespace kn::mpi
