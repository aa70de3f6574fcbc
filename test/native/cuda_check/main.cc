// A test tool, never installed: drives the CUDA emulator's self-tests and runs
// ops through a backend plugin (cuda_emu or cuda) for the mocha tests in
// test/native/cuda_emu.test.ts and test/gpu/cuda.test.ts.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "libraries.h"
#include "plugin_op.h"
#include "selftests.h"

int run_expf_check(const std::string& stride);  // host_math_check.cc

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "selftest" && argc == 3) return run_selftest(argv[2]);
  if (cmd == "probe" && argc == 3) return run_probe(argv[2]);
  if (cmd == "op") return run_op(argc, argv);
  if (cmd == "libraries") return run_libraries(argc, argv);
  if (cmd == "memory" && argc == 4) return run_memory(argv[2], std::atoi(argv[3]));
  if (cmd == "expf" && argc == 3) return run_expf_check(argv[2]);
  if (cmd == "nccl-group" && argc == 5) return run_nccl_group(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  std::fprintf(stderr,
               "usage: cornernet_cuda_check selftest <name>\n"
               "       cornernet_cuda_check probe <plugin.so>\n"
               "       cornernet_cuda_check op <plugin.so> <device> <op> <mode> N C H W <dir>\n"
               "       cornernet_cuda_check memory <plugin.so> <device>\n"
               "       cornernet_cuda_check libraries [soname...]\n"
               "       cornernet_cuda_check expf <stride>\n"
               "       cornernet_cuda_check nccl-group <plugin.so> <ranks> <dead-rank or -1>\n");
  return 2;
}
