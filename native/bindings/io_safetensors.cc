// safetensors read/write for JavaScript (io/safetensors.h), as plain functions on
// the `ops` object rather than tensor ops, because entries come in several element
// types (F32 as Float32Array, I64 as BigInt64Array, F64, I32):
//   safetensorsRead(path) / safetensorsReadAsync(path) ->
//     {tensors: [{name, dtype, shape, data}] (file order), metadata: [[key, value]] | null}
//   safetensorsWrite(path, tensors, metadata?) / safetensorsWriteAsync(...) -> undefined
// The Async forms do the file work on a libuv worker; write copies the caller's
// typed arrays first (see parse_write).
#include <cstring>
#include <memory>

#include "../io/safetensors.h"
#include "ops.h"

namespace cn {

namespace {

napi_typedarray_type typed_array_for(StDtype d) {
  switch (d) {
    case StDtype::F32: return napi_float32_array;
    case StDtype::F64: return napi_float64_array;
    case StDtype::I32: return napi_int32_array;
    case StDtype::I64: return napi_bigint64_array;
  }
  return napi_float32_array;
}

const char* typed_array_name(StDtype d) {
  switch (d) {
    case StDtype::F32: return "a Float32Array";
    case StDtype::F64: return "a Float64Array";
    case StDtype::I32: return "an Int32Array";
    case StDtype::I64: return "a BigInt64Array";
  }
  return "?";
}

Napi::Value to_js(Napi::Env env, const StFile& f) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array list = Napi::Array::New(env, f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const StTensor& t = f.tensors[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", t.name);
    e.Set("dtype", st_dtype_name(t.dtype));
    Napi::Array shape = Napi::Array::New(env, t.shape.size());
    for (size_t k = 0; k < t.shape.size(); ++k) shape.Set(static_cast<uint32_t>(k), static_cast<double>(t.shape[k]));
    e.Set("shape", shape);
    const size_t count = t.nbytes / st_dtype_size(t.dtype);
    Napi::ArrayBuffer buf;
    if (t.nbytes == 0) {
      buf = Napi::ArrayBuffer::New(env, 0);
    } else {
      auto* keep = new std::shared_ptr<uint8_t>(t.data);
      buf = Napi::ArrayBuffer::New(env, t.data.get(), t.nbytes,
                                   [](Napi::Env, void*, std::shared_ptr<uint8_t>* k) { delete k; }, keep);
    }
    napi_value arr;
    napi_status s = napi_create_typedarray(env, typed_array_for(t.dtype), count, buf, 0, &arr);
    NAPI_THROW_IF_FAILED(env, s, Napi::Value());
    e.Set("data", Napi::Value(env, arr));
    list.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("tensors", list);
  if (f.has_metadata) {
    Napi::Array md = Napi::Array::New(env, f.metadata.size());
    for (size_t i = 0; i < f.metadata.size(); ++i) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, f.metadata[i].first);
      pair.Set(1u, f.metadata[i].second);
      md.Set(static_cast<uint32_t>(i), pair);
    }
    o.Set("metadata", md);
  } else {
    o.Set("metadata", env.Null());
  }
  return o;
}

std::string path_arg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": argument 'path' must be a non-empty string");
  return info[0].As<Napi::String>().Utf8Value();
}

// The write arguments. `tensors` point into the caller's typed arrays, or into
// `owned` for the async form.
struct WriteJob {
  std::string path;
  std::vector<StTensorRef> tensors;
  bool has_metadata = false;
  StMetadata metadata;
  std::vector<std::unique_ptr<uint8_t[]>> owned;
};

// `owned`: copy every array's bytes into the job (safetensorsWriteAsync). The
// worker must not read JS memory: the caller may detach (transfer) an array
// while the file is written, freeing or moving its memory, and N-API has no way
// to pin one. The cost is one memcpy of the data on the JS thread and that much
// memory more until the write ends (for a training checkpoint: the size of the
// weights and optimizer state, e.g. 2.4 GB for hourglass104 with Adam), small in
// time next to writing and fsyncing the same bytes.
WriteJob parse_write(const Napi::CallbackInfo& info, const char* fn, bool owned) {
  Napi::Env env = info.Env();
  WriteJob job;
  std::vector<Napi::TypedArray> arrays;  // as read, to check them again once every argument is read
  job.path = path_arg(info, fn);
  auto bad = [&](const std::string& what) { throw Napi::TypeError::New(env, std::string(fn) + ": " + what); };
  if (info.Length() < 2 || !info[1].IsArray()) bad("argument 'tensors' must be an array of {name, dtype, shape, data}");
  Napi::Array list = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value ev = list.Get(i);
    if (!ev.IsObject()) bad("tensors[" + std::to_string(i) + "] must be an object {name, dtype, shape, data}");
    Napi::Object e = ev.As<Napi::Object>();
    Napi::Value name = e.Get("name"), dtype = e.Get("dtype"), shape = e.Get("shape"), data = e.Get("data");
    if (!name.IsString()) bad("tensors[" + std::to_string(i) + "].name must be a string");
    StTensorRef t;
    t.name = name.As<Napi::String>().Utf8Value();
    const std::string where = "tensor '" + t.name + "'";
    if (!dtype.IsString() || !st_dtype_from_name(dtype.As<Napi::String>().Utf8Value(), t.dtype))
      bad(where + ": dtype must be one of 'F32', 'F64', 'I32', 'I64'");
    if (!shape.IsArray()) bad(where + ": shape must be an array of non-negative integers");
    Napi::Array sa = shape.As<Napi::Array>();
    for (uint32_t k = 0; k < sa.Length(); ++k) {
      Napi::Value d = sa.Get(k);
      const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0) || x != static_cast<double>(static_cast<int64_t>(x)) || x > 9007199254740991.0)
        bad(where + ": shape[" + std::to_string(k) + "] must be a non-negative integer");
      t.shape.push_back(static_cast<int64_t>(x));
    }
    if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != typed_array_for(t.dtype))
      bad(where + ": dtype " + st_dtype_name(t.dtype) + " needs data as " + typed_array_name(t.dtype));
    Napi::TypedArray ta = data.As<Napi::TypedArray>();
    double numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<double>(d);
    if (numel != static_cast<double>(ta.ElementLength()))
      bad(where + ": shape " + shape_str(t.shape) + " needs " + std::to_string(static_cast<long long>(numel)) +
          " elements, data has " + std::to_string(ta.ElementLength()));
    t.data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    t.nbytes = ta.ByteLength();
    arrays.push_back(ta);
    job.tensors.push_back(std::move(t));
  }
  if (info.Length() >= 3 && !info[2].IsUndefined() && !info[2].IsNull()) {
    if (!info[2].IsArray()) bad("argument 'metadata' must be an array of [key, value] string pairs");
    Napi::Array md = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < md.Length(); ++i) {
      Napi::Value p = md.Get(i);
      if (!p.IsArray() || p.As<Napi::Array>().Length() != 2 || !p.As<Napi::Array>().Get(0u).IsString() ||
          !p.As<Napi::Array>().Get(1u).IsString())
        bad("metadata[" + std::to_string(i) + "] must be a [key, value] pair of strings");
      job.metadata.emplace_back(p.As<Napi::Array>().Get(0u).As<Napi::String>().Utf8Value(),
                                p.As<Napi::Array>().Get(1u).As<Napi::String>().Utf8Value());
    }
    job.has_metadata = true;
  }
  // Getters among the arguments run JS, which may have detached an array read before.
  for (size_t i = 0; i < arrays.size(); ++i) {
    Napi::TypedArray now(env, arrays[i]);
    const uint8_t* data = static_cast<const uint8_t*>(now.ArrayBuffer().Data()) + now.ByteOffset();
    if (data != job.tensors[i].data || now.ByteLength() != job.tensors[i].nbytes)
      bad("tensor '" + job.tensors[i].name + "': data was detached or resized while the arguments were read");
    if (owned && job.tensors[i].nbytes) {
      job.owned.emplace_back(new uint8_t[job.tensors[i].nbytes]);
      std::memcpy(job.owned.back().get(), job.tensors[i].data, job.tensors[i].nbytes);
      job.tensors[i].data = job.owned.back().get();
    }
  }
  return job;
}

void run_write(const WriteJob& j) { write_safetensors(j.path, j.tensors, j.has_metadata ? &j.metadata : nullptr); }

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env, "safetensorsRead"), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      file_ = read_safetensors(path_);
    } catch (const std::exception& e) {
      SetError(std::string("safetensorsRead: ") + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(to_js(Env(), file_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  StFile file_;
};

class WriteWorker : public Napi::AsyncWorker {
 public:
  WriteWorker(Napi::Env env, WriteJob job)
      : Napi::AsyncWorker(env, "safetensorsWrite"), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      run_write(job_);
    } catch (const std::exception& e) {
      SetError(std::string("safetensorsWrite: ") + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  WriteJob job_;
};

Napi::Value rejected(Napi::Env env, const Napi::Error& e) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(e.Value());
  return d.Promise();
}

}  // namespace

void register_safetensors_io(OpRegistry& r) {
  r.add_function("safetensorsRead", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string path = path_arg(info, "safetensorsRead");
    StFile f;
    try {
      f = read_safetensors(path);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("safetensorsRead: ") + e.what());
    }
    return to_js(info.Env(), f);
  });
  r.add_function("safetensorsReadAsync", [](const Napi::CallbackInfo& info) -> Napi::Value {
    try {
      auto* w = new ReadWorker(info.Env(), path_arg(info, "safetensorsReadAsync"));
      Napi::Promise p = w->promise();
      w->Queue();
      return p;
    } catch (const Napi::Error& e) {
      return rejected(info.Env(), e);
    }
  });
  r.add_function("safetensorsWrite", [](const Napi::CallbackInfo& info) -> Napi::Value {
    WriteJob job = parse_write(info, "safetensorsWrite", false);
    try {
      run_write(job);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("safetensorsWrite: ") + e.what());
    }
    return info.Env().Undefined();
  });
  r.add_function("safetensorsWriteAsync", [](const Napi::CallbackInfo& info) -> Napi::Value {
    try {
      auto* w = new WriteWorker(info.Env(), parse_write(info, "safetensorsWriteAsync", true));
      Napi::Promise p = w->promise();
      w->Queue();
      return p;
    } catch (const Napi::Error& e) {
      return rejected(info.Env(), e);
    }
  });
}

}  // namespace cn
