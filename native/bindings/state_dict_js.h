// A model's state dict between the engine and JavaScript: {name: {data, shape}}
// with Float32Array values and BigInt64Array counters (num_batches_tracked),
// in the reference's key order. Snapshots and load plans are plain host data, so
// the device work can run on any thread and only the conversion touches N-API.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "../model/parameter_store.h"

namespace cn {

// "" when v is a {data, shape} whose shape agrees with its length, else what is
// wrong with it (callers prefix the argument's name).
std::string read_js_tensor(const Napi::Value& v, Napi::TypedArray& data, Shape& shape);

struct HostEntry {
  std::string name;
  EntryKind kind = EntryKind::Parameter;
  Tensor value;  // host copy (not for counters)
  int64_t count = 0;
};

// Host copies of every entry (the store must be materialised). Any thread.
std::vector<HostEntry> snapshot_store(Backend& be, const ParameterStore& store);
// Main thread: the JS object, without copying the host tensors.
Napi::Object host_entries_to_js(Napi::Env env, const std::vector<HostEntry>& entries);

struct LoadReport {
  size_t loaded = 0;
  std::vector<std::string> missing, unexpected, mismatched;
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

// Main thread: checks `dict` against the store and copies the matching entries to
// host tensors. With strict and any mismatch, throws a JS Error (prefixed by
// `fn`) listing every missing / unexpected / wrong-shaped key, with the report
// attached as `.report`, and nothing is loaded.
std::vector<HostEntry> read_state_dict(Napi::Env env, const Napi::Object& dict, const ParameterStore& store,
                                       bool strict, const std::string& fn, LoadReport& report);
// Any thread: writes the entries into the store (by name) on `be`'s device.
void apply_state(Backend& be, ParameterStore& store, const std::vector<HostEntry>& entries);

Napi::Object load_report_to_js(Napi::Env env, const LoadReport& r);

}  // namespace cn
