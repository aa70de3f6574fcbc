// The JavaScript ProcessGroup class (lib/train/distributed.ts wraps it): a
// cn::ProcessGroup shared with the trainers it is passed to. Collectives called
// from JavaScript run on a libuv worker and return Promises.
#pragma once
#include <napi.h>

#include <memory>

#include "../train/process_group.h"

namespace cn {

void register_process_group(Napi::Env env, Napi::Object exports);

// {available, library, message}: whether libcornernet_mpi.so loads (without initialising
// MPI), the MPI library's version, or why not. For info().
Napi::Object mpi_info(Napi::Env env);

// A JS ProcessGroup object holding `group` (what mpiProcessGroup and ncclProcessGroup,
// the factories of both transports, return).
Napi::Object wrap_process_group(Napi::Env env, std::shared_ptr<ProcessGroup> group);

// The group a JS ProcessGroup object holds; throws a TypeError naming `where`
// when `v` is not one.
std::shared_ptr<ProcessGroup> unwrap_process_group(Napi::Env env, Napi::Value v, const std::string& where);

}  // namespace cn
