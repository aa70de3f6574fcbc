// The part of NCCL's C API this backend calls, declared by hand: NCCL is
// optional, opened at run time (cuda_libraries.cc, dlopen of libnccl.so.2), and
// its header is not on the machines that build this package. Only what
// nccl_communicator.cc uses is here: version and unique id, communicators for
// the devices of one process (ncclCommInitAll) and for ranks of several
// processes (ncclCommInitRank), grouped all-reduce and broadcast, and the
// error / abort calls that bound a collective by a timeout.
//
// Source of every declaration: NCCL's public header template src/nccl.h.in
// (NVIDIA's nccl repository at commit 021e8045; each item names the section of
// the header it comes from). These declarations have the same form since
// NCCL 2.7 (ncclBroadcast since 2.2, ncclCommGetAsyncError since 2.4): later
// releases only appended enumerators (ncclRemoteError, ncclInProgress,
// ncclTimeout; ncclBfloat16 and the fp8 types), which this file does not use.
// When a real nccl.h is found at build time (NCCL_INCLUDE_DIR),
// library_api_check.cc asserts that everything below matches it.
//
// Everything lives in namespace cn::nccl under NCCL's own names.
#pragma once
#include <cstddef>

#include "cuda_compat.cuh"  // cudaStream_t (real runtime, or the emulator's)

namespace cn {
namespace nccl {

// nccl.h "Opaque handle to communicator": `typedef struct ncclComm* ncclComm_t;`
struct ncclComm;
typedef ncclComm* ncclComm_t;

// nccl.h: `#define NCCL_UNIQUE_ID_BYTES 128`
// `typedef struct { char internal[NCCL_UNIQUE_ID_BYTES]; } ncclUniqueId;`
constexpr int kUniqueIdBytes = 128;  // our name: the real header makes NCCL_UNIQUE_ID_BYTES a macro
struct ncclUniqueId {
  char internal[kUniqueIdBytes];
};

// The enums below have a fixed underlying type equal to what the header's plain
// enums get (unsigned int: no negative enumerator), so values this file does not
// name stay representable; library_api_check.cc asserts it.

// nccl.h "Error type" `ncclResult_t`
enum ncclResult_t : unsigned int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
};

// nccl.h "Reduction operation selector" `ncclRedOp_t`: only the sum is used.
enum ncclRedOp_t : unsigned int {
  ncclSum = 0,
};

// nccl.h "Data types" `ncclDataType_t`: the types used here.
enum ncclDataType_t : unsigned int {
  ncclUint8 = 1,
  ncclFloat32 = 7,
  ncclFloat64 = 8,
};

}  // namespace nccl
}  // namespace cn

// X(name, return type, (parameters)) as in nccl.h, expanded like
// CN_CUDNN_FUNCTIONS (see cudnn_api.h). Sections of nccl.h.in:
// ncclGetVersion, ncclGetUniqueId, ncclCommInitRank, ncclCommInitAll,
// ncclCommDestroy, ncclCommAbort, ncclGetErrorString, ncclCommGetAsyncError:
// the communicator functions at the top of the header; ncclBroadcast,
// ncclAllReduce: "Collective communication operations"; ncclGroupStart,
// ncclGroupEnd: "Group semantics".
#define CN_NCCL_FUNCTIONS(X)                                                                                     \
  X(ncclGetVersion, ncclResult_t, (int* version))                                                                \
  X(ncclGetUniqueId, ncclResult_t, (ncclUniqueId * uniqueId))                                                    \
  X(ncclCommInitRank, ncclResult_t, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank))              \
  X(ncclCommInitAll, ncclResult_t, (ncclComm_t * comm, int ndev, const int* devlist))                           \
  X(ncclCommDestroy, ncclResult_t, (ncclComm_t comm))                                                            \
  X(ncclCommAbort, ncclResult_t, (ncclComm_t comm))                                                              \
  X(ncclGetErrorString, const char*, (ncclResult_t result))                                                      \
  X(ncclCommGetAsyncError, ncclResult_t, (ncclComm_t comm, ncclResult_t * asyncError))                           \
  X(ncclBroadcast, ncclResult_t,                                                                                 \
    (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,     \
     cudaStream_t stream))                                                                                       \
  X(ncclAllReduce, ncclResult_t,                                                                                 \
    (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm, \
     cudaStream_t stream))                                                                                       \
  X(ncclGroupStart, ncclResult_t, ())                                                                            \
  X(ncclGroupEnd, ncclResult_t, ())

namespace cn {
namespace nccl {
#define CN_NCCL_FN_TYPE(name, ret, params) using name##_fn = ret(*) params;
CN_NCCL_FUNCTIONS(CN_NCCL_FN_TYPE)
#undef CN_NCCL_FN_TYPE
}  // namespace nccl
}  // namespace cn
