// The corner-pool launch code of the GPU plugin, built for the emulated device.
#include "../cuda/corner_pool.cu"
