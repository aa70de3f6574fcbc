// `cornernet_cuda_check libraries [soname...]`: runs the plugin's loader of the
// optional libraries (native/cuda/cuda_libraries.cc) and prints what it found as
// JSON: {"cudnn":{...},"cublas":{...},"nccl":{...}}. Without sonames, each
// library's default list (libcudnn.so.9/.8, libcublas.so.13/.12, libnccl.so.2);
// with sonames, every loader tries exactly those (tests of the not-found and missing-symbol paths).
#include <cstdio>
#include <string>
#include <vector>

#include "json_text.h"
#include "../../../native/cuda/cuda_libraries.h"
#include "libraries.h"

namespace {

std::string result_json(const cn::cuda::LoadResult& r) {
  return std::string("{\"found\":") + (r.found ? "true" : "false") + ",\"soname\":" + json_str(r.soname) +
         ",\"path\":" + json_str(r.path) + ",\"whyNot\":" + json_str(r.why_not) + "}";
}

}  // namespace

int run_libraries(int argc, char** argv) {
  std::vector<std::string> sonames(argv + 2, argv + argc);
  cn::cuda::CudnnApi dnn;
  cn::cuda::CublasApi blas;
  cn::cuda::LoadResult a = cn::cuda::load_cudnn(sonames.empty() ? cn::cuda::cudnn_sonames() : sonames, &dnn);
  cn::cuda::LoadResult b = cn::cuda::load_cublas(sonames.empty() ? cn::cuda::cublas_sonames() : sonames, &blas);
  cn::cuda::NcclApi nccl;
  cn::cuda::LoadResult c = cn::cuda::load_nccl(sonames.empty() ? cn::cuda::nccl_sonames() : sonames, &nccl);
  std::printf(
      "{\"cudnn\":%s,\"cublas\":%s,\"nccl\":%s,\"version\":{\"cudnn90600\":%s,\"cudnn8907\":%s,\"cublas120604\":%s,"
      "\"nccl22105\":%s,\"nccl2804\":%s}}\n",
      result_json(a).c_str(), result_json(b).c_str(), result_json(c).c_str(),
      json_str(cn::cuda::cudnn_version_text(90600)).c_str(), json_str(cn::cuda::cudnn_version_text(8907)).c_str(),
      json_str(cn::cuda::cublas_version_text(120604)).c_str(), json_str(cn::cuda::nccl_version_text(22105)).c_str(),
      json_str(cn::cuda::nccl_version_text(2804)).c_str());
  return 0;
}
