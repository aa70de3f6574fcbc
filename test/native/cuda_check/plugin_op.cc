// `cornernet_cuda_check probe <plugin.so>` prints the plugin's probe as JSON.
// `cornernet_cuda_check op <plugin.so> <device> <op> <mode> N C H W <dir>` runs
// corner_pool_forward (reads dir/x.bin, writes dir/y.bin) or corner_pool_backward
// (reads x.bin and gy.bin, writes gx.bin) through the plugin's cn::Backend, the
// way the addon does: upload, run, synchronize, download. Raw float32 files.
#include <dlfcn.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "json_text.h"
#include "../../../native/engine/backend.h"
#include "../../../native/engine/plugin_abi.h"
#include "plugin_op.h"

namespace {

struct Loaded {
  cn_plugin_probe_fn probe = nullptr;
  cn_plugin_create_fn create = nullptr;
};

Loaded load(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  Loaded l;
  l.probe = reinterpret_cast<cn_plugin_probe_fn>(dlsym(h, CN_PLUGIN_PROBE_SYMBOL));
  l.create = reinterpret_cast<cn_plugin_create_fn>(dlsym(h, CN_PLUGIN_CREATE_SYMBOL));
  if (!l.probe || !l.create) throw std::runtime_error(path + " lacks the plugin entry points");
  return l;
}

cn::Tensor read_tensor(const std::string& file, const cn::Shape& shape) {
  cn::Tensor t = cn::Tensor::host(shape);
  std::ifstream f(file, std::ios::binary);
  if (!f.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.bytes())))
    throw std::runtime_error("cannot read " + std::to_string(t.bytes()) + " bytes from " + file);
  return t;
}

void write_tensor(const std::string& file, const cn::Tensor& t) {
  std::ofstream f(file, std::ios::binary);
  if (!f.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.bytes())))
    throw std::runtime_error("cannot write " + file);
}

cn::CornerPoolMode parse_mode(const std::string& m) {
  if (m == "top") return cn::CornerPoolMode::Top;
  if (m == "bottom") return cn::CornerPoolMode::Bottom;
  if (m == "left") return cn::CornerPoolMode::Left;
  if (m == "right") return cn::CornerPoolMode::Right;
  throw std::runtime_error("unknown corner pool mode " + m);
}

}  // namespace

int run_probe(const std::string& path) {
  try {
    Loaded l = load(path);
    cn_plugin_probe p{};
    l.probe(&p);
    std::printf("{\"abi\":%d,\"status\":%d,\"driver\":%d,\"runtime\":%d,\"devices\":%d,\"archs\":%s,\"message\":%s}\n",
                p.abi_version, p.status, p.driver_version, p.runtime_version, p.device_count,
                json_str(p.compiled_archs).c_str(), json_str(p.message).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 3;
  }
}

std::unique_ptr<cn::Backend> open_backend(const std::string& plugin, int device) {
  Loaded l = load(plugin);
  cn_plugin_probe p{};
  l.probe(&p);
  if (p.status != CN_PROBE_OK) throw std::runtime_error(std::string("plugin not usable: ") + p.message);
  char err[512] = {0};
  std::unique_ptr<cn::Backend> be(l.create(device, err, sizeof(err)));
  if (!be) throw std::runtime_error(err);
  return be;
}

int run_op(int argc, char** argv) {
  // argv: op <plugin> <device> <op> <mode> N C H W <dir>
  if (argc != 11) {
    std::fprintf(stderr, "usage: op <plugin.so> <device> corner_pool_forward|corner_pool_backward <mode> N C H W <dir>\n");
    return 2;
  }
  try {
    std::unique_ptr<cn::Backend> be = open_backend(argv[2], std::atoi(argv[3]));
    std::string op = argv[4], dir = argv[10];
    cn::CornerPoolMode mode = parse_mode(argv[5]);
    cn::Shape shape{std::atoll(argv[6]), std::atoll(argv[7]), std::atoll(argv[8]), std::atoll(argv[9])};
    cn::Tensor x = be->upload(read_tensor(dir + "/x.bin", shape));
    cn::Tensor host_out = cn::Tensor::host(shape);
    cn::Tensor out = be->empty(shape);
    if (op == "corner_pool_forward") {
      be->corner_pool_forward(mode, x, out);
    } else if (op == "corner_pool_backward") {
      cn::Tensor gy = be->upload(read_tensor(dir + "/gy.bin", shape));
      be->corner_pool_backward(mode, x, gy, out);
    } else {
      throw std::runtime_error("unknown op " + op);
    }
    be->synchronize();
    be->download(out, host_out);
    write_tensor(dir + (op == "corner_pool_forward" ? "/y.bin" : "/gx.bin"), host_out);
    std::printf("{\"backend\":%s,\"device\":%s}\n", json_str(be->name().c_str()).c_str(),
                json_str(be->device().str().c_str()).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 3;
  }
}
