#include "addon_data.h"

#include <cstdlib>

namespace cn {

AddonData::AddonData()
    : runtime_(Runtime::acquire()), cpu_(new CpuBackend(runtime_->pool(), default_isa())) {}

namespace {
[[noreturn]] void fail_cuda(const Plugin& pl, const std::string& spec) {
  if (!pl.loaded) {
    if (pl.load_error.rfind("not built", 0) == 0)
      fail("backend '", spec, "': this build of cornernet-native has no CUDA plugin (it was compiled "
           "without nvcc, or with CORNERNET_CUDA=0; ", pl.load_error, ")");
    fail("backend '", spec, "': the CUDA plugin did not load: ", pl.load_error);
  }
  switch (pl.probe.status) {
    case CN_PROBE_NO_DRIVER:
      fail("backend '", spec, "': no usable NVIDIA driver (", pl.probe.message,
           "); install or update the driver, or use --device cpu");
    case CN_PROBE_NO_DEVICE:
      fail("backend '", spec, "': the NVIDIA driver is present but reports no CUDA device (",
           pl.probe.message, "); check CUDA_VISIBLE_DEVICES, or use --device cpu");
    default:
      fail("backend '", spec, "': CUDA is not usable: ", pl.probe.message);
  }
}
}  // namespace

Backend& AddonData::backend(const std::string& spec) {
  if (spec == "cpu" || spec.empty()) return *cpu_;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = opened_.find(spec);
  if (it != opened_.end()) return *it->second;

  std::unique_ptr<Backend> be;
  if (spec.rfind("cpu:", 0) == 0) {
    Isa isa;
    std::string want = spec.substr(4);
    if (!parse_isa(want, &isa)) fail("backend '", spec, "': unknown ISA '", want, "' (portable, avx2, avx512)");
    if (static_cast<int>(isa) > static_cast<int>(detect_isa()))
      fail("backend '", spec, "': this CPU does not support ", want, " (best: ", isa_name(detect_isa()), ")");
    be.reset(new CpuBackend(runtime_->pool(), isa));
  } else if (spec == "cuda" || spec.rfind("cuda:", 0) == 0 || spec == "cuda-emu" || spec.rfind("cuda-emu:", 0) == 0) {
    bool emu = spec.rfind("cuda-emu", 0) == 0;
    int index = 0;
    const size_t colon = spec.find(':');
    if (colon != std::string::npos) {
      std::string idx = spec.substr(colon + 1);
      char* end = nullptr;
      long v = std::strtol(idx.c_str(), &end, 10);
      if (idx.empty() || *end || v < 0) fail("backend '", spec, "': the device index must be a non-negative integer");
      index = static_cast<int>(v);
    }
    const Plugin& pl = runtime_->plugin(emu ? "cuda_emu" : "cuda");
    if (!pl.loaded || pl.probe.status != CN_PROBE_OK) fail_cuda(pl, spec);
    if (index >= pl.probe.device_count)
      fail("backend '", spec, "': device index ", index, " is out of range (", pl.probe.device_count,
           " CUDA device", pl.probe.device_count == 1 ? "" : "s", " visible",
           emu ? "; CORNERNET_EMU_DEVICES sets the emulator's count)" : ")");
    char err[512] = {0};
    Backend* raw = pl.create(index, err, sizeof(err));
    if (!raw) fail("backend '", spec, "': ", err);
    be.reset(raw);
  } else {
    fail("unknown backend '", spec, "' (expected cpu, cuda, cuda:N, cuda-emu or cuda-emu:N)");
  }
  Backend& ref = *be;
  opened_[spec] = std::move(be);
  return ref;
}

}  // namespace cn
