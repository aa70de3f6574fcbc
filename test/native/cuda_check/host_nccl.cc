// libcornernet_host_nccl.so (test-tools, never installed): the NCCL functions
// native/cuda/nccl_api.h declares, on host memory and within one process, so
// the CUDA emulator (whose device memory is host memory) runs the NCCL paths in
// tests: CORNERNET_EMU_NCCL=<this file> makes cuda-emu load it
// (native/cuda/cuda_libraries.cc). It stands exactly where ncclAllReduce /
// ncclBroadcast stand, so the plugin's NCCL code and the trainer's bucketing and
// overlap run unchanged above it.
//
// Semantics kept from NCCL: the k-th collective of every rank of a clique is one
// operation (collectives match by order); sums are in rank order (rank 0 + rank 1
// + ...), so two ranks give what InProcessCommunicator gives; calls between
// ncclGroupStart and ncclGroupEnd are only registered, and ncclGroupEnd waits
// for them, so one thread may drive every rank of a clique. Unlike NCCL, a call
// returns when its operation is complete (the emulator's streams are already in
// order): a rank that never calls leaves the others waiting, as on a GPU,
// unless CORNERNET_HOST_NCCL_WAIT_S=<seconds> is set: then a wait that long
// gives up, the call returns as if enqueued, and the communicator reports
// ncclRemoteError through ncclCommGetAsyncError (what NCCL does when a peer
// process dies), so tests reach the process group's abort path.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "../../../native/cuda/nccl_api.h"

using namespace cn::nccl;

namespace {

struct Operation {
  enum Kind { AllReduce, Broadcast } kind = AllReduce;
  size_t count = 0;
  ncclDataType_t type = ncclFloat32;
  int root = 0;
  std::vector<void*> buffers;  // per rank, nullptr until it arrived
  int arrived = 0;
  int collected = 0;  // ranks that saw it complete (the last erases it)
  bool done = false;
  bool mismatch = false;
};

struct Clique {
  int size = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> issued;  // per rank: collectives issued so far
  std::map<uint64_t, Operation> ops;
};

}  // namespace

struct cn::nccl::ncclComm {
  Clique* clique = nullptr;
  int rank = 0;
  ncclResult_t async_error = ncclSuccess;
};

namespace {

size_t type_bytes(ncclDataType_t t) { return t == ncclFloat64 ? 8 : t == ncclFloat32 ? 4 : 1; }

template <typename T>
void sum_in_rank_order(Operation& op) {
  std::vector<T> acc(static_cast<T*>(op.buffers[0]), static_cast<T*>(op.buffers[0]) + op.count);
  for (size_t r = 1; r < op.buffers.size(); ++r) {
    const T* b = static_cast<const T*>(op.buffers[r]);
    for (size_t i = 0; i < op.count; ++i) acc[i] += b[i];
  }
  for (void* b : op.buffers) std::memcpy(b, acc.data(), op.count * sizeof(T));
}

void run(Operation& op) {
  if (op.kind == Operation::Broadcast) {
    for (size_t r = 0; r < op.buffers.size(); ++r)
      if (static_cast<int>(r) != op.root) std::memmove(op.buffers[r], op.buffers[op.root], op.count * type_bytes(op.type));
  } else if (op.type == ncclFloat64) {
    sum_in_rank_order<double>(op);
  } else {
    sum_in_rank_order<float>(op);
  }
  op.done = true;
}

struct Ticket {
  ncclComm_t comm;
  uint64_t seq;
};
thread_local int g_group_depth = 0;
thread_local std::vector<Ticket> g_group;

// Registers rank comm->rank's part of its next collective; runs it when it is the last part.
ncclResult_t contribute(ncclComm_t comm, Operation::Kind kind, void* buf, size_t count, ncclDataType_t type, int root,
                        Ticket* out) {
  if (!comm || !comm->clique) return ncclInvalidArgument;
  Clique& c = *comm->clique;
  std::lock_guard<std::mutex> lock(c.mu);
  const uint64_t seq = c.issued[comm->rank]++;
  Operation& op = c.ops[seq];
  if (op.buffers.empty()) {
    op.kind = kind;
    op.count = count;
    op.type = type;
    op.root = root;
    op.buffers.assign(c.size, nullptr);
  } else if (op.kind != kind || op.count != count || op.type != type || op.root != root) {
    op.mismatch = true;
  }
  op.buffers[comm->rank] = buf;
  if (++op.arrived == c.size) {
    if (!op.mismatch) run(op);
    op.done = true;
    c.cv.notify_all();
  }
  *out = Ticket{comm, seq};
  return ncclSuccess;
}

ncclResult_t wait_for(const Ticket& t) {
  Clique& c = *t.comm->clique;
  std::unique_lock<std::mutex> lock(c.mu);
  Operation& op = c.ops[t.seq];
  static const char* limit = std::getenv("CORNERNET_HOST_NCCL_WAIT_S");
  if (limit && *limit) {
    if (!c.cv.wait_for(lock, std::chrono::duration<double>(std::atof(limit)), [&] { return op.done; })) {
      t.comm->async_error = ncclRemoteError;
      return ncclSuccess;
    }
  } else {
    c.cv.wait(lock, [&] { return op.done; });
  }
  const bool bad = op.mismatch;
  if (++op.collected == c.size) c.ops.erase(t.seq);
  return bad ? ncclInvalidUsage : ncclSuccess;
}

ncclResult_t collective(ncclComm_t comm, Operation::Kind kind, void* buf, size_t count, ncclDataType_t type,
                        int root) {
  Ticket t{};
  ncclResult_t r = contribute(comm, kind, buf, count, type, root, &t);
  if (r != ncclSuccess) return r;
  if (g_group_depth > 0) {
    g_group.push_back(t);
    return ncclSuccess;
  }
  return wait_for(t);
}

std::mutex g_ids_mu;
std::map<std::vector<char>, Clique*> g_cliques;  // by unique id; live as long as the process (test tool)
uint64_t g_next_id = 1;

}  // namespace

#define CN_EXPORT extern "C" __attribute__((visibility("default")))

CN_EXPORT ncclResult_t ncclGetVersion(int* version) {
  *version = 0;  // not NVIDIA's: no version
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::lock_guard<std::mutex> lock(g_ids_mu);
  std::memset(id->internal, 0, sizeof(id->internal));
  std::memcpy(id->internal, "host-nccl", 9);
  const uint64_t n = g_next_id++;
  std::memcpy(id->internal + 16, &n, sizeof n);
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  std::lock_guard<std::mutex> lock(g_ids_mu);
  Clique*& c = g_cliques[std::vector<char>(id.internal, id.internal + kUniqueIdBytes)];
  if (!c) {
    c = new Clique();
    c->size = nranks;
    c->issued.assign(nranks, 0);
  }
  if (c->size != nranks) return ncclInvalidUsage;
  *comm = new ncclComm{c, rank};
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclCommInitAll(ncclComm_t* comms, int ndev, const int*) {
  if (ndev < 1) return ncclInvalidArgument;
  auto* c = new Clique();  // lives as long as its communicators' users: the process (test tool)
  c->size = ndev;
  c->issued.assign(ndev, 0);
  for (int r = 0; r < ndev; ++r) comms[r] = new ncclComm{c, r};
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  delete comm;
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm) {
  delete comm;
  return ncclSuccess;
}

CN_EXPORT const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument (host NCCL)";
    case ncclInvalidUsage: return "invalid usage: ranks issued different collectives (host NCCL)";
    case ncclRemoteError: return "remote process exited or there was a network error (host NCCL)";
    default: return "error (host NCCL)";
  }
}

CN_EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async) {
  *async = comm->async_error;
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root,
                                     ncclComm_t comm, cudaStream_t) {
  if (send != recv) return ncclInvalidUsage;  // only the in-place form is used
  return collective(comm, Operation::Broadcast, recv, count, type, root);
}

CN_EXPORT ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                                     ncclComm_t comm, cudaStream_t) {
  if (send != recv || op != ncclSum) return ncclInvalidUsage;  // only the in-place sum is used
  if (type != ncclFloat32 && type != ncclFloat64) return ncclInvalidArgument;
  return collective(comm, Operation::AllReduce, recv, count, type, 0);
}

CN_EXPORT ncclResult_t ncclGroupStart() {
  ++g_group_depth;
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclGroupEnd() {
  if (g_group_depth == 0) return ncclInvalidUsage;
  if (--g_group_depth > 0) return ncclSuccess;
  std::vector<Ticket> tickets;
  tickets.swap(g_group);
  ncclResult_t result = ncclSuccess;
  for (const Ticket& t : tickets) {
    ncclResult_t r = wait_for(t);
    if (result == ncclSuccess) result = r;
  }
  return result;
}
