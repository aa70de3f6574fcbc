// The tool prints its results as JSON lines for the mocha tests to parse.
#pragma once
#include <string>

// `s` as a JSON string literal: quotes and backslashes escaped, control characters dropped
// (the messages it quotes come from plugins and libraries and may hold newlines).
inline std::string json_str(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) r += c;
  }
  return r + "\"";
}
