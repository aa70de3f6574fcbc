// JS entry points of the CornerNet decoder (native/decode): `decode(args)` runs
// inline, `decodeAsync(args)` on a libuv worker and returns a Promise. Not an op of
// the Backend interface: its outputs have data-dependent sizes and it runs on
// the host whatever backend produced the head outputs. `softNms(args)` exposes
// the soft-NMS kernel alone (merging several decodes, checking its semantics).
#pragma once
#include <napi.h>

namespace cn {

void register_decode(Napi::Env env, Napi::Object exports);

}  // namespace cn
