// The GPU plugin's backend class, built against the emulated runtime.
#include "../cuda/cuda_backend.cc"
