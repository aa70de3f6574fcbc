// Several processes (ranks) training one model: the contract between the
// trainer and whatever carries bytes between the processes. The trainer sums
// its own replicas' gradients first (Communicator), then, when it belongs to a
// group of more than one rank, sums them over the ranks with all_reduce_sum and
// divides by the total replica count; every rank then applies the same update,
// so weights stay identical without a broadcast after the first one.
//
// Implementations: MPI (CPU ranks, launched by mpirun; a plugin built against the
// MPI found at build time) and NCCL (GPU ranks; libnccl.so.2 by dlopen, inside the
// CUDA plugin). A rank that stops answering must not hang the others forever:
// implementations bound every collective by `timeout_s` and then throw an Error
// naming the rank(s) that did not take part.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cn {

class Backend;

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  // What carries the bytes and its version, e.g. "mpi (Open MPI 4.1.4)", "nccl 2.21.5".
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums `count` floats over all ranks, in place. `data` lives where `backend`
  // keeps its tensors (host memory for the CPU, device memory for CUDA).
  virtual void all_reduce_sum(Backend& backend, float* data, int64_t count) = 0;
  // Sums `count` doubles over all ranks, in place, in host memory (losses, flags).
  virtual void all_reduce_sum_host(double* data, int64_t count) = 0;
  // Rank `root`'s `bytes` bytes at `data` (host memory) copied to every rank.
  virtual void broadcast_host(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
};

}  // namespace cn
