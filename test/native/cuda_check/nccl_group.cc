// `cornernet_cuda_check nccl-group <plugin.so> <ranks> <dead-rank>`: the NCCL
// ProcessGroup (native/cuda/nccl_communicator.cc) through the plugin's entry
// points, the way the addon gets it: rank 0's ncclGetUniqueId, then one thread
// per rank (standing in for the processes; the host-memory NCCL of the emulator
// joins ranks by the id within one process) with a backend on device r each.
// Every rank runs, in order: all_reduce_sum of a device tensor (rank r holds
// r + 1 + i / 8), all_reduce_sum_host of two doubles, broadcast_host of 5 bytes
// from the last rank, barrier. A <dead-rank> >= 0 never calls the all-reduce,
// so the others must fail with the timeout's message instead of hanging.
// Prints {"name", "ranks": [{"rank", "sum": [...], "host": [...], "bytes", "error"}]}.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "json_text.h"
#include "../../../native/engine/backend.h"
#include "../../../native/engine/plugin_abi.h"
#include "../../../native/train/process_group.h"
#include "plugin_op.h"

namespace {

template <typename T>
std::string json_array(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

struct RankResult {
  std::vector<float> sum;
  std::vector<double> host;
  std::string bytes;
  std::string error;
};

template <typename F>
F symbol(void* h, const char* name) {
  void* p = dlsym(h, name);
  if (!p) throw std::runtime_error(std::string("the plugin lacks ") + name);
  return reinterpret_cast<F>(p);
}

}  // namespace

int run_nccl_group(const std::string& plugin, int ranks, int dead) {
  try {
    void* h = dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    auto create = symbol<cn_plugin_create_fn>(h, CN_PLUGIN_CREATE_SYMBOL);
    auto unique_id = symbol<cn_plugin_nccl_unique_id_fn>(h, CN_PLUGIN_NCCL_UNIQUE_ID_SYMBOL);
    auto make_group = symbol<cn_plugin_nccl_process_group_fn>(h, CN_PLUGIN_NCCL_PROCESS_GROUP_SYMBOL);
    char err[1024] = {0};
    char id[CN_NCCL_UNIQUE_ID_BYTES];
    if (unique_id(id, err, sizeof(err)) != 0) throw std::runtime_error(err);

    std::vector<RankResult> results(ranks);
    std::string name;
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r) {
      threads.emplace_back([&, r] {
        RankResult& out = results[r];
        try {
          char e[1024] = {0};
          std::unique_ptr<cn::Backend> be(create(r, e, sizeof(e)));
          if (!be) throw std::runtime_error(e);
          std::unique_ptr<cn::ProcessGroup> pg(make_group(r, ranks, id, r, 2.0, e, sizeof(e)));
          if (!pg) throw std::runtime_error(e);
          if (r == 0) name = pg->name();
          if (r == dead) return;  // a rank that stopped: never takes part
          cn::Tensor host = cn::Tensor::host(cn::Shape{8});
          for (int i = 0; i < 8; ++i) host.data()[i] = static_cast<float>(r + 1) + i / 8.0f;
          cn::Tensor dev = be->upload(host);
          pg->all_reduce_sum(*be, dev.data(), dev.numel());
          be->download(dev, host);
          out.sum.assign(host.data(), host.data() + 8);
          double values[2] = {static_cast<double>(r), 0.5};
          pg->all_reduce_sum_host(values, 2);
          out.host.assign(values, values + 2);
          char bytes[6] = ".....";
          if (r == ranks - 1) {
            std::memcpy(bytes, "root", 4);
            bytes[4] = static_cast<char>('0' + r % 10);
          }
          pg->broadcast_host(bytes, 5, ranks - 1);
          out.bytes.assign(bytes, 5);
          pg->barrier();
        } catch (const std::exception& ex) {
          out.error = ex.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    std::string json = "{\"name\":" + json_str(name) + ",\"ranks\":[";
    for (int r = 0; r < ranks; ++r) {
      const RankResult& x = results[r];
      json += std::string(r ? "," : "") + "{\"rank\":" + std::to_string(r) + ",\"sum\":" + json_array(x.sum) +
              ",\"host\":" + json_array(x.host) + ",\"bytes\":" + json_str(x.bytes) + ",\"error\":" + json_str(x.error) +
              "}";
    }
    std::printf("%s]}\n", json.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nccl-group: %s\n", e.what());
    return 1;
  }
}
