// `cornernet_cuda_check selftest <name>`: runs one of selftest_kernels.cuh on the
// CUDA emulator and prints its inputs and outputs as JSON; the mocha test
// (test/native/cuda_emu.test.ts) computes what they must be. Misuse cases print
// the emulator's error on stderr and exit with status 3.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../../../native/cuda/cuda_compat.cuh"
#include "selftest_kernels.cuh"
#include "selftests.h"

namespace {

// Deterministic inputs (xorshift), so a failure reproduces.
struct Rng {
  uint32_t s = 0x9e3779b9u;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
  float uniform() { return static_cast<float>(next() >> 8) / 16777216.0f * 2.f - 1.f; }
};

template <typename T>
void print_array(const char* name, const std::vector<T>& v, bool last = false) {
  std::printf("\"%s\":[", name);
  for (size_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_floating_point<T>::value) std::printf(i ? ",%.17g" : "%.17g", static_cast<double>(v[i]));
    else std::printf(i ? ",%lld" : "%lld", static_cast<long long>(v[i]));
  }
  std::printf("]%s", last ? "" : ",");
}

void shared_rotate() {
  const int blocks = 3, threads = 96, rounds = 5;
  Rng r;
  std::vector<int> in(blocks * threads), out(in.size(), 0);
  for (int& v : in) v = static_cast<int>(r.next() % 1000);
  CN_LAUNCH(selftest_shared_rotate, blocks, threads, threads * sizeof(int), nullptr)(in.data(), out.data(), rounds);
  std::printf("{\"blocks\":%d,\"threads\":%d,\"rounds\":%d,", blocks, threads, rounds);
  print_array("in", in);
  print_array("out", out, true);
  std::printf("}\n");
}

void block_sum() {
  const int blocks = 5;
  Rng r;
  std::vector<float> in(blocks * 256), out(blocks, 0.f);
  for (float& v : in) v = static_cast<float>(static_cast<int>(r.next() % 64)) * 0.25f;  // exact sums
  CN_LAUNCH(selftest_block_sum, blocks, 256, 0, nullptr)(in.data(), out.data());
  std::printf("{");
  print_array("in", in);
  print_array("out", out, true);
  std::printf("}\n");
}

void shuffles() {
  const int n = 96;  // three warps in one block
  Rng r;
  std::vector<float> in(n), out(n * kShuffleOuts, 0.f);
  std::vector<double> in64(n), out64(n, 0.0);
  std::vector<unsigned> votes(n * 3, 0);
  for (int i = 0; i < n; ++i) {
    in[i] = r.uniform();
    in64[i] = static_cast<double>(r.next()) * 1e-3 + 1e9;  // needs all 8 bytes
  }
  CN_LAUNCH(selftest_shuffles, 1, n, 0, nullptr)(in.data(), in64.data(), out.data(), out64.data(), votes.data());
  std::printf("{\"outsPerThread\":%d,", kShuffleOuts);
  print_array("in", in);
  print_array("in64", in64);
  print_array("out", out);
  print_array("out64", out64);
  print_array("votes", votes, true);
  std::printf("}\n");
}

void divergent() {
  Rng r;
  std::vector<int> in(64), out(64 * 3, 0);
  for (int& v : in) v = static_cast<int>(r.next() % 100);
  CN_LAUNCH(selftest_divergent, 1, 64, 0, nullptr)(in.data(), out.data());
  std::printf("{");
  print_array("in", in);
  print_array("out", out, true);
  std::printf("}\n");
}

void atomics() {
  const int blocks = 64, threads = 256;
  Rng r;
  std::vector<int> in(blocks * threads), hist(16, 0);
  for (int& v : in) v = static_cast<int>(r.next() % 100000);
  float fsum = 0.f;
  int imax = -1;
  unsigned usum = 0;
  CN_LAUNCH(selftest_atomics, blocks, threads, 0, nullptr)(in.data(), &fsum, hist.data(), &imax, &usum);
  std::printf("{\"repeats\":%d,\"fsum\":%.9g,\"imax\":%d,\"usum\":%u,", kAtomicRepeats, static_cast<double>(fsum), imax, usum);
  print_array("in", in);
  print_array("hist", hist, true);
  std::printf("}\n");
}

template <typename K>
void misuse(K kernel, const char* name, int threads) {
  std::vector<int> out(64, 0);
  cn_emu::make_launch(name, kernel, 1, threads, 0, nullptr)(out.data());
  std::printf("{\"ran\":true}\n");
}

}  // namespace

int run_selftest(const std::string& name) {
  static const std::map<std::string, std::function<void()>> tests = {
      {"shared_rotate", shared_rotate},
      {"block_sum", block_sum},
      {"shuffles", shuffles},
      {"divergent", divergent},
      {"atomics", atomics},
      {"bad_barrier", [] { misuse(selftest_bad_barrier, "selftest_bad_barrier", 32); }},
      {"bad_mask_self", [] { misuse(selftest_bad_mask_self, "selftest_bad_mask_self", 32); }},
      {"bad_source", [] { misuse(selftest_bad_source, "selftest_bad_source", 32); }},
      {"missing_lane", [] { misuse(selftest_missing_lane, "selftest_missing_lane", 32); }},
      {"partial_warp", [] { misuse(selftest_missing_lane, "selftest_missing_lane", 20); }},
      {"mixed_collectives", [] { misuse(selftest_mixed_collectives, "selftest_mixed_collectives", 32); }},
      {"bad_launch", [] { misuse(selftest_noop, "selftest_noop", 2048); }},
  };
  auto it = tests.find(name);
  if (it == tests.end()) {
    std::fprintf(stderr, "unknown selftest '%s'\n", name.c_str());
    return 2;
  }
  try {
    it->second();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 3;
  }
  return 0;
}
