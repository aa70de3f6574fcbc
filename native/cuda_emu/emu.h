// The device side of CUDA, emulated on the host so that native/cuda's kernel
// source compiles with g++ and runs in CI without a GPU. It checks kernel
// logic (indexing, bounds of the launch, tie rules, barriers, warp collectives),
// not speed.
//
// Model: a launch runs its blocks on a small pool of OS threads; each block's
// threads are fibers (ucontext) on one OS thread, switched only at
// synchronisation points. __syncthreads() is a barrier over the block's live
// threads; warp intrinsics (__shfl*_sync, __ballot_sync, __any_sync, __all_sync,
// __syncwarp) are a rendezvous of exactly the lanes named in `mask` within one
// 32-lane warp, so warps and diverged lane groups proceed independently as on
// Volta and later. Undefined behaviour the hardware would not report (a lane
// missing from a collective, lanes meeting in different intrinsics, reading a
// lane outside the mask, masks that can never all meet,
// a barrier some threads never reach) raises a cn_emu::KernelError instead.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu_runtime_api.h"

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

namespace cn_emu {

struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ThreadState;  // one fiber (emu_scheduler.cc)
struct BlockState {
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned char* dynamic_smem;
};
// Set by the scheduler whenever it switches fibers / blocks on this OS thread.
extern thread_local uint3 tl_thread_idx;
extern thread_local BlockState* tl_block;

enum class Collective : int { Shfl, ShflUp, ShflDown, ShflXor, Ballot, Any, All, SyncWarp };

void syncthreads();
// One lane's part in a warp collective; returns this lane's result bits.
uint64_t warp_collective(Collective kind, unsigned mask, uint64_t bits, int arg, int width);

// Runs `body` once per thread of every block of the grid; throws KernelError.
void run_grid(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem,
              const std::function<void()>& body);

template <typename T>
uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move values of up to 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

template <typename... P>
struct Launch {
  const char* name;
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;
  template <typename... A>
  void operator()(A&&... a) const {
    // Parameters are converted once, as a real launch copies them to the device.
    std::tuple<std::decay_t<P>...> args(std::forward<A>(a)...);
    auto k = kernel;
    run_grid(name, grid, block, smem, [&args, k] { std::apply(k, args); });
  }
};

template <typename... P>
Launch<P...> make_launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                         cudaStream_t) {
  return Launch<P...>{name, kernel, grid, block, smem};
}

template <typename T, typename F>
T atomic_update(T* addr, F f) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomics on 4- or 8-byte words");
  using W = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  W* w = reinterpret_cast<W*>(addr);
  W old = __atomic_load_n(w, __ATOMIC_RELAXED);
  for (;;) {
    T ov;
    std::memcpy(&ov, &old, sizeof(T));
    T nv = f(ov);
    W nw;
    std::memcpy(&nw, &nv, sizeof(T));
    if (__atomic_compare_exchange_n(w, &old, nw, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return ov;
  }
}

}  // namespace cn_emu

// ---- what device code sees -------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __constant__
// One instance per OS thread, and an OS thread runs one block at a time.
#define __shared__ static thread_local
#define threadIdx (::cn_emu::tl_thread_idx)
#define blockIdx (::cn_emu::tl_block->block_idx)
#define blockDim (::cn_emu::tl_block->block_dim)
#define gridDim (::cn_emu::tl_block->grid_dim)
constexpr int warpSize = 32;

#define CN_LAUNCH(kernel, grid, block, smem, stream) \
  ::cn_emu::make_launch(#kernel, kernel, (grid), (block), (smem), (stream))
#define CN_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::cn_emu::tl_block->dynamic_smem)

inline void __syncthreads() { ::cn_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::cn_emu::warp_collective(::cn_emu::Collective::SyncWarp, mask, 0, 0, 32);
}
template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return ::cn_emu::from_bits<T>(::cn_emu::warp_collective(::cn_emu::Collective::Shfl, mask, ::cn_emu::to_bits(v), src_lane, width));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::cn_emu::from_bits<T>(::cn_emu::warp_collective(::cn_emu::Collective::ShflUp, mask, ::cn_emu::to_bits(v), static_cast<int>(delta), width));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::cn_emu::from_bits<T>(::cn_emu::warp_collective(::cn_emu::Collective::ShflDown, mask, ::cn_emu::to_bits(v), static_cast<int>(delta), width));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::cn_emu::from_bits<T>(::cn_emu::warp_collective(::cn_emu::Collective::ShflXor, mask, ::cn_emu::to_bits(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(::cn_emu::warp_collective(::cn_emu::Collective::Ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<int>(::cn_emu::warp_collective(::cn_emu::Collective::Any, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  return static_cast<int>(::cn_emu::warp_collective(::cn_emu::Collective::All, mask, pred != 0, 0, 32));
}

// Bit reinterpretations (CUDA's __float_as_int / __int_as_float).
inline int __float_as_int(float v) {
  int i;
  std::memcpy(&i, &v, sizeof i);
  return i;
}
inline float __int_as_float(int i) {
  float v;
  std::memcpy(&v, &i, sizeof v);
  return v;
}

// IEEE round-to-nearest arithmetic that nvcc never fuses into an FMA. The host
// build has no FMA contraction (generic x86-64), so plain operators are exact.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return ::cn_emu::from_bits<unsigned>(::cn_emu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return ::cn_emu::from_bits<float>(::cn_emu::to_bits(x)); }
inline long long __double_as_longlong(double x) { return ::cn_emu::from_bits<long long>(::cn_emu::to_bits(x)); }
inline double __longlong_as_double(long long x) { return ::cn_emu::from_bits<double>(::cn_emu::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }

inline float atomicAdd(float* p, float v) { return ::cn_emu::atomic_update(p, [v](float o) { return o + v; }); }
inline double atomicAdd(double* p, double v) { return ::cn_emu::atomic_update(p, [v](double o) { return o + v; }); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline int atomicMax(int* p, int v) { return ::cn_emu::atomic_update(p, [v](int o) { return o > v ? o : v; }); }
inline unsigned atomicMax(unsigned* p, unsigned v) {
  return ::cn_emu::atomic_update(p, [v](unsigned o) { return o > v ? o : v; });
}
inline int atomicMin(int* p, int v) { return ::cn_emu::atomic_update(p, [v](int o) { return o < v ? o : v; }); }
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline int atomicCAS(int* p, int cmp, int v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
