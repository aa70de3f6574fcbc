// libcornernet_mpi.so: cn::ProcessGroup over MPI, for ranks launched by mpirun
// (Open MPI or MPICH). Linked against the MPI found at build time; the addon
// opens it with dlopen (bindings/process_group.cc).
//
// Every collective is nonblocking (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier) and
// polled against a deadline, so a rank that stops answering cannot hang the
// others: after `timeout_s` they throw an Error naming it. To know *which* rank
// is missing (a collective's completion does not say), each rank also sends
// every other rank an 8-byte arrival notice carrying the collective's sequence
// number; the notices not received by the deadline name the ranks that did not
// take part, and a notice with another number names a rank that is running a
// different collective (ranks out of step). A rank that took part but stopped
// midway (the collective needs every rank's progress) is found by heartbeats:
// while a collective waits, each rank tells the others every fraction of a second
// that it is still there; the one silent at the deadline is named. Once a
// collective has timed out the
// group is broken: later calls fail at once and MPI is not finalised (MPI_Finalize
// would wait for the missing rank); mpirun then ends the job.
#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../engine/backend.h"
#include "../engine/error.h"
#include "../train/process_group.h"
#include "mpi_plugin_abi.h"

namespace cn {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kArrivalTag = 7301;
constexpr int kHeartbeatTag = 7302;
// MPI counts are int: larger buffers go in pieces.
constexpr int64_t kMaxChunk = INT_MAX / 2;

// Set when a collective timed out anywhere in this process, or when it fails on its
// own (cornernet_mpi_abandon): MPI_Finalize at exit would wait for the other ranks.
std::atomic<bool> g_broken{false};
std::mutex g_init_mutex;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && !g_broken) MPI_Finalize();
}

std::string mpi_error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buf, len);
}

std::string library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, len);
  // Open MPI: "Open MPI v4.1.4, package: ..."; MPICH: "MPICH Version:\t4.0.2\n...": the first clause.
  size_t cut = s.find_first_of(",\n");
  s = s.substr(0, cut);
  for (char& c : s)
    if (c == '\t') c = ' ';
  return s;
}

class MpiProcessGroup : public ProcessGroup {
 public:
  MpiProcessGroup(double timeout_s) : timeout_s_(timeout_s), version_(library_version()) {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    // Errors come back as codes (turned into Errors here), not as an abort.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    beat_ = std::chrono::duration<double>(std::min(0.5, timeout_s_ / 8));
    // One heartbeat receive always posted per peer, reposted as each arrives.
    beat_in_.assign(size_, 0);
    beat_req_.assign(size_, MPI_REQUEST_NULL);
    for (int p = 0; p < size_; ++p)
      if (p != rank_) MPI_Irecv(&beat_in_[p], 1, MPI_INT64_T, p, kHeartbeatTag, comm_, &beat_req_[p]);
  }
  ~MpiProcessGroup() override {
    if (g_broken) return;
    for (MPI_Request& r : beat_req_)
      if (r != MPI_REQUEST_NULL) {
        MPI_Cancel(&r);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
      }
    MPI_Comm_free(&comm_);
  }

  std::string name() const override { return "mpi (" + version_ + ")"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(Backend& backend, float* data, int64_t count) override {
    if (count <= 0 || size_ == 1) return;
    if (backend.device().type == DeviceType::CPU) {
      all_reduce_floats(data, count);
      return;
    }
    // MPI is not assumed to read device memory: through the host.
    Tensor dev = Tensor::view(data, {count}, backend.device());
    Tensor host = Tensor::host({count});
    backend.download(dev, host);
    all_reduce_floats(host.data(), count);
    backend.copy(backend.upload(host), dev);
  }

  void all_reduce_sum_host(double* data, int64_t count) override {
    for (int64_t off = 0; off < count; off += kMaxChunk) {
      int n = static_cast<int>(std::min(kMaxChunk, count - off));
      collective("all-reduce", [&](MPI_Request* r) {
        return MPI_Iallreduce(MPI_IN_PLACE, data + off, n, MPI_DOUBLE, MPI_SUM, comm_, r);
      });
    }
  }

  void broadcast_host(void* data, size_t bytes, int root) override {
    CN_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of this group of ", size_);
    char* p = static_cast<char*>(data);
    size_t off = 0;
    do {  // once even for 0 bytes: every rank makes the same calls
      int n = static_cast<int>(std::min<size_t>(kMaxChunk, bytes - off));
      collective("broadcast", [&](MPI_Request* r) { return MPI_Ibcast(p + off, n, MPI_BYTE, root, comm_, r); });
      off += n;
    } while (off < bytes);
  }

  void barrier() override {
    collective("barrier", [&](MPI_Request* r) { return MPI_Ibarrier(comm_, r); });
  }

 private:
  void all_reduce_floats(float* data, int64_t count) {
    for (int64_t off = 0; off < count; off += kMaxChunk) {
      int n = static_cast<int>(std::min(kMaxChunk, count - off));
      collective("all-reduce", [&](MPI_Request* r) {
        return MPI_Iallreduce(MPI_IN_PLACE, data + off, n, MPI_FLOAT, MPI_SUM, comm_, r);
      });
    }
  }

  // Starts one nonblocking collective (`start` fills the request) together with
  // the arrival notices, and polls until every part is done or the deadline passes.
  template <typename Start>
  void collective(const char* what, Start start) {
    std::lock_guard<std::mutex> lock(mutex_);
    CN_CHECK(!g_broken, "mpi: rank ", rank_, ": an earlier collective of this process timed out; the group is unusable");
    const int64_t seq = ++seq_;
    // [0]: the collective; then per peer p: arrival[p] (its notice to us), sent[p] (ours to it).
    MPI_Request op = MPI_REQUEST_NULL;
    std::vector<MPI_Request> arrival(size_, MPI_REQUEST_NULL), sent(size_, MPI_REQUEST_NULL);
    std::vector<int64_t> arrived(size_, -1);
    send_seq_ = seq;
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      check(MPI_Irecv(&arrived[p], 1, MPI_INT64_T, p, kArrivalTag, comm_, &arrival[p]), what, seq);
      check(MPI_Isend(&send_seq_, 1, MPI_INT64_T, p, kArrivalTag, comm_, &sent[p]), what, seq);
    }
    check(start(&op), what, seq);

    const Clock::time_point t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s_));
    std::vector<bool> came(size_, false);
    std::vector<Clock::time_point> heard(size_, t0);  // last sign of life of each peer in this collective
    Clock::time_point last_beat = t0;
    for (int polls = 0;; ++polls) {
      const Clock::time_point now = Clock::now();
      int done = 0;
      check(MPI_Test(&op, &done, MPI_STATUS_IGNORE), what, seq);
      bool all = done != 0;
      for (int p = 0; p < size_; ++p) {
        if (p == rank_) continue;
        int flag = 0;
        if (!came[p]) {
          check(MPI_Test(&arrival[p], &flag, MPI_STATUS_IGNORE), what, seq);
          if (flag) came[p] = true, heard[p] = now;
        }
        check(MPI_Test(&sent[p], &flag, MPI_STATUS_IGNORE), what, seq);
        all = all && came[p] && flag;
      }
      if (all) break;
      poll_heartbeats(heard, now);
      if (now - last_beat > beat_) {
        send_heartbeats();
        last_beat = now;
      }
      if (now > deadline) {
        g_broken = true;
        std::vector<int> absent, silent;
        for (int p = 0; p < size_; ++p) {
          if (p == rank_) continue;
          if (!came[p]) absent.push_back(p);
          else if (now - heard[p] > 3 * beat_) silent.push_back(p);
        }
        fail_timeout(what, seq, absent, silent);
      }
      // Spin briefly (a collective of live ranks completes within microseconds to
      // milliseconds), then sleep between polls so a waiting rank leaves the cores
      // to the ranks still computing. MPI progresses only inside MPI calls.
      if (polls < 2000) sched_yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(polls < 20000 ? 50 : 500));
    }
    for (int p = 0; p < size_; ++p)
      if (p != rank_ && arrived[p] != seq)
        fail("mpi: rank ", rank_, " and rank ", p, " are out of step: this rank ran collective #", seq, " (", what,
             ") while rank ", p, " ran #", arrived[p], "; every rank must make the same calls in the same order");
  }

  void poll_heartbeats(std::vector<Clock::time_point>& heard, Clock::time_point now) {
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      int got = 0;
      MPI_Test(&beat_req_[p], &got, MPI_STATUS_IGNORE);
      if (!got) continue;
      heard[p] = now;
      MPI_Irecv(&beat_in_[p], 1, MPI_INT64_T, p, kHeartbeatTag, comm_, &beat_req_[p]);
    }
  }

  void send_heartbeats() {
    static const int64_t alive = 1;
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      MPI_Request r;
      // Fire and forget: an 8-byte constant, nothing to reuse or wait for.
      if (MPI_Isend(&alive, 1, MPI_INT64_T, p, kHeartbeatTag, comm_, &r) == MPI_SUCCESS) MPI_Request_free(&r);
    }
  }

  [[noreturn]] void fail_timeout(const char* what, int64_t seq, const std::vector<int>& absent,
                                 const std::vector<int>& silent) {
    auto list = [](const std::vector<int>& ranks) {
      std::ostringstream os;
      os << "rank" << (ranks.size() == 1 ? " " : "s ");
      for (size_t i = 0; i < ranks.size(); ++i) os << (i ? ", " : "") << ranks[i];
      return os.str();
    };
    std::ostringstream os;
    os << "mpi: ";
    if (!absent.empty()) os << list(absent) << " did not take part in " << what << " #" << seq;
    if (!absent.empty() && !silent.empty()) os << ", and ";
    if (!silent.empty()) os << list(silent) << " stopped answering during " << (absent.empty() ? std::string(what) + " #" + std::to_string(seq) : "it");
    if (absent.empty() && silent.empty()) {
      // Seen by a rank that was itself suspended past the deadline: the others answered all along.
      os << what << " #" << seq << " did not complete within " << timeout_s_
         << " s though every rank took part and answers (this is rank " << rank_ << " of " << size_
         << "): was this process suspended? stopping (CORNERNET_DIST_TIMEOUT sets the limit)";
      throw Error(os.str());
    }
    os << " within " << timeout_s_ << " s (this is rank " << rank_ << " of " << size_
       << "): that process died, hangs or is far behind; stopping (CORNERNET_DIST_TIMEOUT sets the limit)";
    throw Error(os.str());
  }

  void check(int code, const char* what, int64_t seq) {
    if (code != MPI_SUCCESS)
      fail("mpi: rank ", rank_, ": ", what, " #", seq, " failed: ", mpi_error_string(code));
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_s_;
  std::string version_;
  std::mutex mutex_;  // MPI_THREAD_SERIALIZED: one collective at a time, from any thread
  int64_t seq_ = 0;
  int64_t send_seq_ = 0;  // the buffer of the arrival notices in flight
  std::chrono::duration<double> beat_{0.5};  // heartbeat period while a collective waits
  std::vector<int64_t> beat_in_;
  std::vector<MPI_Request> beat_req_;
};

void copy_err(char* err, size_t len, const std::string& s) {
  if (!err || !len) return;
  size_t n = std::min(len - 1, s.size());
  std::memcpy(err, s.data(), n);
  err[n] = 0;
}

}  // namespace
}  // namespace cn

extern "C" {

__attribute__((visibility("default"))) int cornernet_mpi_abi_version() { return CN_MPI_PLUGIN_ABI_VERSION; }

__attribute__((visibility("default"))) void cornernet_mpi_abandon() { cn::g_broken = true; }

__attribute__((visibility("default"))) void cornernet_mpi_library_version(char* out, size_t len) {
  cn::copy_err(out, len, cn::library_version());
}

__attribute__((visibility("default"))) cn::ProcessGroup* cornernet_mpi_create(double timeout_s, char* err,
                                                                                size_t err_len) {
  try {
    std::lock_guard<std::mutex> lock(cn::g_init_mutex);
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      if (rc != MPI_SUCCESS) {
        cn::copy_err(err, err_len, "MPI_Init_thread failed: " + cn::mpi_error_string(rc));
        return nullptr;
      }
      if (provided < MPI_THREAD_SERIALIZED) {
        cn::copy_err(err, err_len,
                     "this MPI library does not allow calls from more than one thread (MPI_THREAD_SERIALIZED); "
                     "the trainer calls it from its own thread");
        return nullptr;
      }
      std::atexit(cn::finalize_at_exit);
    }
    return new cn::MpiProcessGroup(timeout_s);
  } catch (const std::exception& e) {
    cn::copy_err(err, err_len, e.what());
    return nullptr;
  }
}

}  // extern "C"
