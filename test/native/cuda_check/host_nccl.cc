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
//
// Ranks of several processes (CORNERNET_HOST_NCCL_PROCESSES=1, ncclCommInitRank
// only): ncclGetUniqueId makes a directory ($TMPDIR/cn-host-nccl-XXXXXX) and the id
// carries its path; the k-th collective of rank r is the file k.r there (header +
// its data, written whole then renamed into place); every rank waits until the
// file of each rank exists, then computes the same result from them (sums in rank
// order, the root's bytes). A rank writes file k only after it has read all of
// k - 1, so it then removes its own k - 1. The last collective's files stay (the
// directory is the caller's to remove). Same machine only: the bytes travel
// through the file system, which is the point of a test stand-in, not a transport.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
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
  Clique* clique = nullptr;  // ranks of this process; nullptr for ranks of several processes
  int rank = 0;
  ncclResult_t async_error = ncclSuccess;
  // Ranks of several processes: the shared directory, the rank count, collectives issued.
  std::string dir;
  int size = 0;
  uint64_t issued = 0;
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

// ---- ranks of several processes: one file per rank and collective ----------------

struct FileHeader {
  int32_t kind, type, root, pad;
  uint64_t count;
};

std::string op_file(const ncclComm& c, uint64_t seq, int rank) {
  return c.dir + "/" + std::to_string(seq) + "." + std::to_string(rank);
}

bool write_file(const std::string& path, const FileHeader& h, const void* data, size_t bytes) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return false;
  bool ok = std::fwrite(&h, sizeof h, 1, f) == 1 && (bytes == 0 || std::fwrite(data, 1, bytes, f) == bytes);
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;  // appears whole to the other ranks
}

bool read_file(const std::string& path, FileHeader* h, std::vector<char>* data) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  bool ok = std::fread(h, sizeof *h, 1, f) == 1;
  if (ok) {
    std::fseek(f, 0, SEEK_END);
    const long end = std::ftell(f);
    data->resize(static_cast<size_t>(end) - sizeof *h);
    std::fseek(f, sizeof *h, SEEK_SET);
    ok = data->empty() || std::fread(data->data(), 1, data->size(), f) == data->size();
  }
  std::fclose(f);
  return ok;
}

ncclResult_t file_collective(ncclComm_t comm, Operation::Kind kind, void* buf, size_t count, ncclDataType_t type,
                             int root) {
  const uint64_t seq = comm->issued++;
  const size_t bytes = count * type_bytes(type);
  const FileHeader mine{static_cast<int32_t>(kind), static_cast<int32_t>(type), root, 0, count};
  const bool sends = kind == Operation::AllReduce || comm->rank == root;
  if (!write_file(op_file(*comm, seq, comm->rank), mine, buf, sends ? bytes : 0)) return ncclSystemError;
  static const char* limit = std::getenv("CORNERNET_HOST_NCCL_WAIT_S");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                              std::chrono::duration<double>(limit && *limit ? std::atof(limit) : 1e9));
  std::vector<std::vector<char>> parts(comm->size);
  for (int r = 0; r < comm->size; ++r) {
    FileHeader h{};
    while (!read_file(op_file(*comm, seq, r), &h, &parts[r])) {
      if (std::chrono::steady_clock::now() > deadline) {
        comm->async_error = ncclRemoteError;  // as NCCL reports a peer process that died
        return ncclSuccess;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (h.kind != mine.kind || h.type != mine.type || h.root != mine.root || h.count != mine.count) return ncclInvalidUsage;
  }
  if (kind == Operation::Broadcast) {
    std::memcpy(buf, parts[root].data(), bytes);
  } else {
    Operation op;
    op.count = count;
    for (auto& p : parts) op.buffers.push_back(p.data());
    if (type == ncclFloat64) sum_in_rank_order<double>(op);
    else sum_in_rank_order<float>(op);
    std::memcpy(buf, parts[0].data(), bytes);
  }
  if (seq > 0) std::remove(op_file(*comm, seq - 1, comm->rank).c_str());
  return ncclSuccess;
}

ncclResult_t collective(ncclComm_t comm, Operation::Kind kind, void* buf, size_t count, ncclDataType_t type,
                        int root) {
  if (comm && !comm->clique) return file_collective(comm, kind, buf, count, type, root);
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
  const char* processes = std::getenv("CORNERNET_HOST_NCCL_PROCESSES");
  if (processes && std::strcmp(processes, "1") == 0) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/cn-host-nccl-XXXXXX";
    if (dir.size() + 10 >= sizeof(id->internal) || !mkdtemp(&dir[0])) return ncclSystemError;
    std::memcpy(id->internal, "host-fs:", 8);
    std::memcpy(id->internal + 8, dir.c_str(), dir.size() + 1);
    return ncclSuccess;
  }
  std::memcpy(id->internal, "host-nccl", 9);
  const uint64_t n = g_next_id++;
  std::memcpy(id->internal + 16, &n, sizeof n);
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  if (std::memcmp(id.internal, "host-fs:", 8) == 0) {
    auto* c = new ncclComm{};
    c->dir.assign(id.internal + 8, strnlen(id.internal + 8, kUniqueIdBytes - 8));
    c->rank = rank;
    c->size = nranks;
    *comm = c;
    return ncclSuccess;
  }
  std::lock_guard<std::mutex> lock(g_ids_mu);
  Clique*& c = g_cliques[std::vector<char>(id.internal, id.internal + kUniqueIdBytes)];
  if (!c) {
    c = new Clique();
    c->size = nranks;
    c->issued.assign(nranks, 0);
  }
  if (c->size != nranks) return ncclInvalidUsage;
  *comm = new ncclComm{};
  (*comm)->clique = c;
  (*comm)->rank = rank;
  return ncclSuccess;
}

CN_EXPORT ncclResult_t ncclCommInitAll(ncclComm_t* comms, int ndev, const int*) {
  if (ndev < 1) return ncclInvalidArgument;
  auto* c = new Clique();  // lives as long as its communicators' users: the process (test tool)
  c->size = ndev;
  c->issued.assign(ndev, 0);
  for (int r = 0; r < ndev; ++r) {
    comms[r] = new ncclComm{};
    comms[r]->clique = c;
    comms[r]->rank = r;
  }
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
