// Kernels that exercise the CUDA emulator's primitives (barriers, every warp
// collective, atomics) and the misuses it must report. Plain CUDA: they build
// against native/cuda_emu here and would build with nvcc unchanged.
#pragma once

constexpr unsigned kFull = 0xffffffffu;

// Each round every thread publishes a value, then reads another thread's; without
// a real barrier some thread reads before the other has written (shared memory
// starts as 0xFF bytes in the emulator, i.e. -1).
__global__ void selftest_shared_rotate(const int* in, int* out, int rounds) {
  CN_DYNAMIC_SHARED(int, s);
  int n = blockDim.x, t = threadIdx.x;
  int v = in[blockIdx.x * n + t];
  for (int r = 0; r < rounds; ++r) {
    s[t] = v;
    __syncthreads();
    v = s[(t + r + 1) % n] + (t % 3 == 0 ? 1 : 0);
    __syncthreads();
  }
  out[blockIdx.x * n + t] = v;
}

// Tree reduction in static shared memory: one sum per 256-thread block.
__global__ void selftest_block_sum(const float* in, float* out) {
  __shared__ float s[256];
  int t = threadIdx.x;
  s[t] = in[blockIdx.x * 256 + t];
  __syncthreads();
  for (int half = 128; half > 0; half >>= 1) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// Every shuffle flavour, full warps; out has kShuffleOuts floats per thread.
constexpr int kShuffleOuts = 14;
__global__ void selftest_shuffles(const float* in, const double* in64, float* out, double* out64,
                                  unsigned* votes) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  int lane = threadIdx.x % 32;
  float v = in[t];
  float* o = out + t * kShuffleOuts;
  o[0] = __shfl_sync(kFull, v, (lane * 7 + 3) % 32);
  o[1] = __shfl_sync(kFull, v, lane + 5, 8);
  o[2] = __shfl_sync(kFull, v, -3);
  o[3] = __shfl_up_sync(kFull, v, 1);
  o[4] = __shfl_up_sync(kFull, v, 3);
  o[5] = __shfl_up_sync(kFull, v, 2, 8);
  o[6] = __shfl_down_sync(kFull, v, 1);
  o[7] = __shfl_down_sync(kFull, v, 5);
  o[8] = __shfl_down_sync(kFull, v, 3, 16);
  o[9] = __shfl_xor_sync(kFull, v, 1);
  o[10] = __shfl_xor_sync(kFull, v, 19);
  o[11] = __shfl_xor_sync(kFull, v, 12, 8);
  float sum = v;  // butterfly: every lane ends with the warp's total
  for (int m = 16; m > 0; m >>= 1) sum += __shfl_xor_sync(kFull, sum, m);
  o[12] = sum;
  __syncwarp();
  o[13] = __shfl_up_sync(kFull, v, 16);
  out64[t] = __shfl_down_sync(kFull, in64[t], 2);
  votes[t * 3 + 0] = __ballot_sync(kFull, v > 0.f);
  votes[t * 3 + 1] = __any_sync(kFull, v > 0.9f);
  votes[t * 3 + 2] = __all_sync(kFull, v > -0.99f);
}

// Warps and half-warps that run different collectives, different numbers of
// times, while another warp already waits at __syncthreads. Were warp
// collectives block-wide barriers, this would pair the wrong calls or hang.
// Two warps; out has 3 ints per thread.
__global__ void selftest_divergent(const int* in, int* out) {
  int t = threadIdx.x, lane = t % 32, warp = t / 32;
  int v = in[t];
  if (warp == 1)
    for (int i = 0; i < 7; ++i) v = __shfl_sync(kFull, v, (lane + 1) % 32) + i;
  __syncthreads();
  if (warp == 0) {
    if (lane < 16) {
      for (int i = 0; i < 4; ++i) v += __shfl_down_sync(0x0000ffffu, v, 1, 16);
    } else {
      for (int i = 0; i < 2; ++i) v += __shfl_up_sync(0xffff0000u, v, 2, 16);
    }
  }
  out[t * 3 + 0] = v;
  out[t * 3 + 1] = (lane & 1) ? __shfl_xor_sync(0xaaaaaaaau, v, 2) : -1;
  unsigned odd_votes = 0;
  if (lane & 1) odd_votes = __ballot_sync(0xaaaaaaaau, v % 2 == 0);
  out[t * 3 + 2] = static_cast<int>(odd_votes);
}

// Many threads of many blocks (run on several OS threads) update the same words,
// the float sum often enough that unsynchronised updates would collide.
constexpr int kAtomicRepeats = 32;
__global__ void selftest_atomics(const int* in, float* fsum, int* hist, int* imax, unsigned* usum) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  int v = in[t];
  for (int k = 0; k < kAtomicRepeats; ++k)
    atomicAdd(fsum, static_cast<float>(v % 8) * 0.125f);  // multiples of 1/8: the total is exact
  atomicAdd(&hist[v & 15], 1);
  atomicMax(imax, v);
  atomicAdd(usum, static_cast<unsigned>(v));
}

// ---- misuses the emulator must report ------------------------------------------
__global__ void selftest_bad_barrier(int* out) {
  int t = threadIdx.x;
  if (t < 16) __syncthreads();
  else out[t] = __shfl_sync(kFull, t, 0);
}
__global__ void selftest_bad_mask_self(int* out) { out[threadIdx.x] = __shfl_sync(0x1u, 1, 0); }
__global__ void selftest_bad_source(int* out) {
  int t = threadIdx.x;
  if (t < 16) out[t] = __shfl_sync(0x0000ffffu, t, 20);
}
__global__ void selftest_missing_lane(int* out) {
  int t = threadIdx.x;
  if (t != 5) out[t] = __shfl_sync(kFull, t, 0);
}
__global__ void selftest_mixed_collectives(int* out) {
  int t = threadIdx.x;
  out[t] = t < 16 ? __shfl_up_sync(kFull, t, 1) : __shfl_down_sync(kFull, t, 1);
}
__global__ void selftest_noop(int* out) { out[threadIdx.x] = 0; }
