#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "../engine/error.h"
#include "json_header.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O copies bytes as they are: little-endian hosts only"
#endif

namespace cn {

namespace {

// The reference implementation's limit; anything bigger is not a real header.
constexpr uint64_t kMaxHeader = 100u * 1000u * 1000u;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string sys_error() { return std::strerror(errno); }

// Reads exactly n bytes at `offset`, or fails saying how much was there.
void read_exact(int fd, void* dst, size_t n, uint64_t offset, const std::string& path, const std::string& what) {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("safetensors file '", path, "': reading ", what, " failed: ", sys_error());
    }
    if (r == 0) fail("safetensors file '", path, "' is truncated: ", what, " ends past the end of the file");
    done += static_cast<size_t>(r);
  }
}

std::shared_ptr<uint8_t> aligned_bytes(size_t n) {
  if (n == 0) return nullptr;
  const size_t rounded = (n + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) fail("out of host memory allocating ", n, " bytes");
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

// Index of the first byte that breaks UTF-8 (overlongs, surrogates and code
// points past U+10FFFF included), or npos. Names must survive the trip to JS
// strings unchanged, which lossy decoding of bad bytes would not allow.
size_t invalid_utf8_at(const std::string& s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = b[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return i;
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((b[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (b[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string::npos;
}

struct Entry {
  size_t index;
  uint64_t begin, end;
};

}  // namespace

const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::F32: return "F32";
    case StDtype::F64: return "F64";
    case StDtype::I32: return "I32";
    case StDtype::I64: return "I64";
  }
  return "?";
}

size_t st_dtype_size(StDtype d) {
  switch (d) {
    case StDtype::F32: return 4;
    case StDtype::F64: return 8;
    case StDtype::I32: return 4;
    case StDtype::I64: return 8;
  }
  return 0;
}

bool st_dtype_from_name(const std::string& name, StDtype& out) {
  for (StDtype d : {StDtype::F32, StDtype::F64, StDtype::I32, StDtype::I64})
    if (name == st_dtype_name(d)) {
      out = d;
      return true;
    }
  return false;
}

StFile read_safetensors(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail("cannot open safetensors file '", path, "': ", sys_error());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail("cannot stat safetensors file '", path, "': ", sys_error());
  if (!S_ISREG(st.st_mode)) fail("'", path, "' is not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8)
    fail("safetensors file '", path, "' is truncated: ", size, " bytes, shorter than the 8-byte header length");
  uint8_t len_bytes[8];
  read_exact(f.fd, len_bytes, 8, 0, path, "the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > size - 8)
    fail("safetensors file '", path, "': the header length ", header_len, " runs past the end of the file (",
         size, " bytes); the file is truncated or not a safetensors file");
  if (header_len > kMaxHeader) fail("safetensors file '", path, "': header length ", header_len, " exceeds 100 MB");
  if (header_len < 2) fail("safetensors file '", path, "': header length ", header_len, " is too short for a JSON object");
  std::string header(static_cast<size_t>(header_len), '\0');
  read_exact(f.fd, header.data(), header.size(), 8, path, "the header");
  if (header[0] != '{') fail("safetensors file '", path, "': the header does not start with '{'");
  if (const size_t bad = invalid_utf8_at(header); bad != std::string::npos)
    fail("safetensors file '", path, "': the header is not valid UTF-8 at byte ", bad);

  json::Value root;
  try {
    root = json::parse(header.data(), header.size());
  } catch (const Error& e) {
    fail("safetensors file '", path, "': bad JSON in the header: ", e.what());
  }
  if (root.kind != json::Value::Kind::Object) fail("safetensors file '", path, "': the header is not a JSON object");

  const uint64_t data_start = 8 + header_len, data_size = size - data_start;
  StFile out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : root.members) {
    if (name == "__metadata__") {
      if (v.kind != json::Value::Kind::Object)
        fail("safetensors file '", path, "': __metadata__ must be an object of strings, got ", v.kind_name());
      for (const auto& [k, mv] : v.members) {
        if (mv.kind != json::Value::Kind::String)
          fail("safetensors file '", path, "': __metadata__ entry '", k, "' must be a string, got ", mv.kind_name());
        out.metadata.emplace_back(k, mv.text);
      }
      out.has_metadata = true;
      continue;
    }
    auto bad = [&](const std::string& what) { fail("safetensors file '", path, "': tensor '", name, "': ", what); };
    if (v.kind != json::Value::Kind::Object) bad(std::string("the entry must be an object, got ") + v.kind_name());
    const json::Value* dt = v.find("dtype");
    const json::Value* sh = v.find("shape");
    const json::Value* off = v.find("data_offsets");
    if (!dt || dt->kind != json::Value::Kind::String) bad("'dtype' is missing or not a string");
    if (!sh || sh->kind != json::Value::Kind::Array) bad("'shape' is missing or not an array");
    if (!off || off->kind != json::Value::Kind::Array || off->items.size() != 2)
      bad("'data_offsets' is missing or not a pair [begin, end]");
    StTensor t;
    t.name = name;
    if (!st_dtype_from_name(dt->text, t.dtype))
      bad("dtype '" + dt->text + "' is not supported (supported: F32, F64, I32, I64)");
    // numel is bounded by the file size below; the running product guards overflow.
    uint64_t numel = 1;
    bool overflow = false;
    for (const json::Value& d : sh->items) {
      uint64_t x = 0;
      if (!d.as_uint64(x) || x > (uint64_t{1} << 62)) bad("'shape' must hold non-negative integers");
      if (x != 0 && numel > UINT64_MAX / x) overflow = true;
      numel *= x;
      t.shape.push_back(static_cast<int64_t>(x));
    }
    uint64_t begin = 0, end = 0;
    if (!off->items[0].as_uint64(begin) || !off->items[1].as_uint64(end))
      bad("'data_offsets' must hold two non-negative integers");
    if (end < begin) bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] end before they begin");
    if (end > data_size)
      bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] run past the end of the data (" +
          std::to_string(data_size) + " bytes); the file is truncated or corrupt");
    const uint64_t esize = st_dtype_size(t.dtype);
    if (overflow || numel > UINT64_MAX / esize || numel * esize != end - begin)
      bad("dtype " + dt->text + " and shape " + shape_str(t.shape) + " need " +
          (overflow ? std::string("more than 2^64") : std::to_string(numel * esize)) + " bytes but data_offsets [" +
          std::to_string(begin) + ", " + std::to_string(end) + "] hold " + std::to_string(end - begin));
    t.nbytes = static_cast<size_t>(end - begin);
    entries.push_back(Entry{out.tensors.size(), begin, end});
    out.tensors.push_back(std::move(t));
  }

  // The data section must be tiled exactly: no overlap, no gap, nothing left over.
  std::vector<Entry> sorted = entries;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const std::string* prev = nullptr;
  for (const Entry& e : sorted) {
    const std::string& name = out.tensors[e.index].name;
    if (e.begin < pos)
      fail("safetensors file '", path, "': tensors '", prev ? *prev : std::string("?"), "' and '", name,
           "' overlap in the data section");
    if (e.begin > pos)
      fail("safetensors file '", path, "': bytes [", pos, ", ", e.begin, ") before tensor '", name,
           "' belong to no tensor");
    pos = e.end;
    prev = &name;
  }
  if (pos != data_size)
    fail("safetensors file '", path, "': the data section has ", data_size, " bytes but the tensors cover ", pos);

  for (const Entry& e : entries) {
    StTensor& t = out.tensors[e.index];
    t.data = aligned_bytes(t.nbytes);
    if (t.nbytes) read_exact(f.fd, t.data.get(), t.nbytes, data_start + e.begin, path, "tensor '" + t.name + "'");
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<StTensorRef>& tensors, const StMetadata* metadata) {
  std::set<std::string> seen;
  std::string header = "{";
  bool first = true;
  if (metadata) {
    header += "\"__metadata__\":{";
    std::set<std::string> keys;
    for (size_t i = 0; i < metadata->size(); ++i) {
      const auto& [k, v] = (*metadata)[i];
      if (!keys.insert(k).second) fail("writing '", path, "': metadata key '", k, "' appears twice");
      if (i) header += ',';
      json::write_string(header, k);
      header += ':';
      json::write_string(header, v);
    }
    header += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const StTensorRef& t : tensors) {
    if (t.name.empty()) fail("writing '", path, "': a tensor has an empty name");
    if (t.name == "__metadata__") fail("writing '", path, "': '__metadata__' is reserved and cannot name a tensor");
    if (!seen.insert(t.name).second) fail("writing '", path, "': tensor '", t.name, "' appears twice");
    for (int64_t d : t.shape)
      if (d < 0) fail("writing '", path, "': tensor '", t.name, "' has a negative dimension in ", shape_str(t.shape));
    const uint64_t want = static_cast<uint64_t>(shape_numel(t.shape)) * st_dtype_size(t.dtype);
    if (want != t.nbytes)
      fail("writing '", path, "': tensor '", t.name, "' (", st_dtype_name(t.dtype), " ", shape_str(t.shape), ") needs ",
           want, " bytes, got ", t.nbytes);
    if (t.nbytes && !t.data) fail("writing '", path, "': tensor '", t.name, "' has no data");
    if (!first) header += ',';
    first = false;
    json::write_string(header, t.name);
    header += ":{\"dtype\":\"";
    header += st_dtype_name(t.dtype);
    header += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.nbytes) + "]}";
    offset += t.nbytes;
  }
  header += '}';
  // Space padding keeps the data section 8-byte aligned, as the reference writer does.
  while (header.size() % 8) header += ' ';

  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (f.fd < 0) fail("cannot create '", tmp, "' to write '", path, "': ", sys_error());
  auto write_all = [&](const void* src, size_t n) {
    const auto* p = static_cast<const uint8_t*>(src);
    while (n) {
      const ssize_t w = ::write(f.fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        const std::string err = sys_error();
        ::unlink(tmp.c_str());
        fail("writing '", path, "' failed: ", err);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  };
  uint8_t len[8];
  uint64_t hl = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(hl >> (8 * i));
  write_all(len, 8);
  write_all(header.data(), header.size());
  for (const StTensorRef& t : tensors)
    if (t.nbytes) write_all(t.data, t.nbytes);
  if (::fsync(f.fd) != 0) {
    const std::string err = sys_error();
    ::unlink(tmp.c_str());
    fail("flushing '", path, "' to disk failed: ", err);
  }
  ::close(f.fd);
  f.fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = sys_error();
    ::unlink(tmp.c_str());
    fail("renaming '", tmp, "' to '", path, "' failed: ", err);
  }
  // The rename itself is durable only once the folder is synced.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd >= 0) ::fsync(d.fd);
}

Tensor st_as_float_tensor(const StTensor& t, const std::string& path) {
  if (t.dtype != StDtype::F32)
    fail("safetensors file '", path, "': tensor '", t.name, "' is ", st_dtype_name(t.dtype), ", expected F32");
  auto keep = t.data;
  float* p = reinterpret_cast<float*>(keep.get());
  return Tensor::adopt(p, t.shape, Device{}, [keep](float*) mutable { keep.reset(); });
}

}  // namespace cn
