// JS entry points of CornerNet decoding: `decode(args, backend?)` runs inline,
// `decodeAsync(args, backend?)` on a libuv worker and returns a Promise (also
// bound as ops.decode / ops.decodeAsync, the engine op `decode`). On the CPU the
// host decoder (native/decode) reads the JS arrays in place (decodeAsync: copies
// of them, as the caller may detach an array while the worker runs); on a device backend
// the maps are uploaded and Backend::decode runs there, returning only the
// detections. `softNms(args)` exposes the soft-NMS kernel alone (merging several
// decodes, checking its semantics). Model.detect (model.cc) reads the same
// options through read_decode_spec.
#pragma once
#include <napi.h>

#include <vector>

#include "../decode/decode_types.h"
#include "op_call.h"

namespace cn {

void register_decode(Napi::Env env, Napi::Object exports);

// The metas and options of a decode call, read from the args object of `c`.
struct DecodeSpec {
  std::vector<decode::ImageMeta> metas;  // one per image
  decode::DecodeOptions opt;
  bool return_pre_nms = false;
};
// `images` images with `entries` heat-map entries each (C * H * W): checks k against it.
DecodeSpec read_decode_spec(OpCall& c, int64_t images, int64_t entries);

// [{boxes, scores, labels, cornerScores, preNms?}, ...]
Napi::Array decode_results_to_js(Napi::Env env, const std::vector<decode::DecodeResult>& results, bool pre_nms);

}  // namespace cn
