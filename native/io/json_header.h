// A small JSON reader/writer for safetensors headers.
//
// Why hand-written: the engine builds with only a C++17 compiler, CMake and npm
// packages. The usual single-header library (nlohmann/json) is not on npm, and
// its Debian package would become a system dependency every user must install;
// a header is a flat object of strings, integer arrays and one string map, so a
// strict parser of a few hundred lines is the smaller thing to own.
//
// The parser is strict RFC 8259 (no comments, no trailing commas, no NaN), keeps
// object keys in file order, rejects duplicate keys, and reports errors with the
// byte offset. Numbers keep their text; integer() accepts only non-negative
// integers that fit in 64 bits (all a header needs).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cn::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;  // String: the decoded UTF-8; Number: the literal
  std::vector<Value> items;                            // Array
  std::vector<std::pair<std::string, Value>> members;  // Object, in file order

  const Value* find(const std::string& key) const;
  // A non-negative integer literal that fits in uint64; false otherwise.
  bool as_uint64(uint64_t& out) const;
  const char* kind_name() const;
};

// Throws cn::Error("<what> at byte N") on malformed input.
Value parse(const char* data, size_t size);

// Appends `s` as a JSON string literal (quotes and escapes).
void write_string(std::string& out, const std::string& s);

}  // namespace cn::json
