// safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the raw little-endian tensor bytes, offsets relative to the end of the header.
//
// Reading checks everything a damaged or hostile file can get wrong (short file,
// header length past the end, malformed JSON, unknown dtype, byte count not
// matching dtype x shape, offsets out of range, overlapping or leaving gaps) and
// names the file and the tensor in every error. Writing goes to a temporary file
// in the same folder, is fsync'ed and renamed over the target, so a crash never
// leaves a half-written checkpoint under the real name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../engine/tensor.h"

namespace cn {

enum class StDtype { F32, F64, I32, I64 };

const char* st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);
// false when `name` is not a dtype this reader supports.
bool st_dtype_from_name(const std::string& name, StDtype& out);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  Shape shape;
  // 64-byte aligned copy of the bytes (nbytes = numel * dtype size; may be null when 0).
  std::shared_ptr<uint8_t> data;
  size_t nbytes = 0;
};

using StMetadata = std::vector<std::pair<std::string, std::string>>;

struct StFile {
  std::vector<StTensor> tensors;  // in header order
  bool has_metadata = false;
  StMetadata metadata;  // in header order
};

StFile read_safetensors(const std::string& path);

// What write_safetensors stores: borrowed bytes, written in the given order.
struct StTensorRef {
  std::string name;
  StDtype dtype = StDtype::F32;
  Shape shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

void write_safetensors(const std::string& path, const std::vector<StTensorRef>& tensors,
                       const StMetadata* metadata = nullptr);

// An F32 entry as an engine tensor sharing its storage (throws for other dtypes).
Tensor st_as_float_tensor(const StTensor& t, const std::string& path);

}  // namespace cn
