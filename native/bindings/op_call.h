// How one engine op is exposed to JavaScript. An op binding is two steps:
//   parse (JS thread): read named arguments from the call's object, check them,
//                      declare outputs with their shapes;
//   kernel (any thread): run on the chosen backend.
// OpRegistry::add turns that into two JS functions, `name(args, backend?)` which
// runs inline, and `nameAsync(args, backend?)` which runs on a libuv worker and
// returns a Promise. Tensors cross as {data: Float32Array, shape: number[]};
// the inline form reads inputs in place, the async form copies them first (a
// worker must never read JS memory: see run_async); outputs are handed to JS
// without a copy.
#pragma once
#include <napi.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../engine/backend.h"

namespace cn {

using TensorMap = std::map<std::string, Tensor>;
using Kernel = std::function<void(Backend&, TensorMap& in, TensorMap& out)>;

class OpCall {
 public:
  OpCall(const Napi::CallbackInfo& info, const std::string& fn_name);

  Napi::Env env() const { return env_; }
  const std::string& fn() const { return fn_; }
  Backend& backend() { return *backend_; }

  // A required tensor argument; `ndim` >= 0 demands that many dimensions.
  Tensor tensor(const char* name, int ndim = -1);
  // Absent, null or undefined gives an undefined Tensor.
  Tensor optional_tensor(const char* name, int ndim = -1);
  double number(const char* name, double def);
  // An integer in [min, max]; `def` when absent.
  int integer(const char* name, int def, int min, int max);
  // A number or a pair [h, w] of integers in [min, max].
  std::pair<int, int> int_pair(const char* name, std::pair<int, int> def, int min, int max);
  std::string string(const char* name, const char* def);
  bool boolean(const char* name, bool def);

  // The raw argument `name` (undefined when absent), for arguments of other kinds.
  Napi::Value value(const char* name) const { return get(name); }

  // Declares an output (returned to JS under `name`).
  void output(const std::string& name, const Shape& shape);

  // Throws a JS-facing argument error: "<fn>: argument '<name>' <what>".
  [[noreturn]] void bad_arg(const char* name, const std::string& what) const;

  // Throws when an input array read earlier in this call was detached or
  // shrunk since (a getter or Proxy among the arguments can run JS between two
  // reads): call after the last argument is read, before the kernel reads the
  // inputs in place or copies them.
  void check_inputs_attached() const;

  // Used by the registry.
  Napi::Value run_sync(const Kernel& k);
  Napi::Value run_async(const Kernel& k);
  // Benchmarks: the kernel alone, on inputs uploaded and outputs allocated
  // once, `warmup` untimed runs then `reps` timed ones (ms each, synchronised).
  std::vector<double> time_kernel(const Kernel& k, int warmup, int reps);

 private:
  Napi::Value get(const char* name) const;

  Napi::Env env_;
  std::string fn_;
  Napi::Object args_;
  Backend* backend_ = nullptr;
  TensorMap inputs_;
  struct ReadArray {
    const char* name;
    Napi::Value data;
    const float* ptr;
    size_t length;
  };
  std::vector<ReadArray> read_arrays_;
  std::vector<std::pair<std::string, Shape>> outputs_;
};

// Executes a kernel: inputs to the device, outputs allocated there, the kernel,
// outputs back to host tensors. Runs on whichever thread calls it.
TensorMap execute_kernel(Backend& be, const TensorMap& host_inputs,
                         const std::vector<std::pair<std::string, Shape>>& outputs, const Kernel& k);

// An engine-owned host copy of `t`, for work that outlives the JS call which
// lent `t`'s memory.
Tensor owned_copy(const Tensor& t);

// Wraps a host tensor as a Float32Array without copying (the tensor's storage
// is kept alive by the ArrayBuffer's finalizer).
Napi::Float32Array to_float32_array(Napi::Env env, const Tensor& t);
Napi::Object tensor_to_js(Napi::Env env, const Tensor& t);

class OpRegistry {
 public:
  using Parse = std::function<Kernel(OpCall&)>;
  OpRegistry(Napi::Env env, Napi::Object target) : env_(env), target_(target) {}
  // Exports `name` and `nameAsync`.
  void add(const std::string& name, Parse parse);
  // Exports a plain function under `name` (for calls that are not tensor ops,
  // e.g. file I/O returning typed arrays of several element types).
  void add_function(const std::string& name, std::function<Napi::Value(const Napi::CallbackInfo&)> fn);
  Napi::Env env() const { return env_; }
  // Exports `export_name(args, backend, op, reps, warmup)`: times op `op`'s
  // kernel with OpCall::time_kernel (argument checks are the op's own).
  // Call after every add.
  void add_timer(const std::string& export_name);

 private:
  Napi::Env env_;
  Napi::Object target_;
  std::map<std::string, Parse> parses_;
};

// Parses "top" | "bottom" | "left" | "right".
CornerPoolMode parse_corner_pool_mode(OpCall& c, const char* name);

}  // namespace cn
