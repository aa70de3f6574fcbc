#include "json_header.h"

#include <cstring>

#include "../engine/error.h"

namespace cn::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

bool Value::as_uint64(uint64_t& out) const {
  if (kind != Kind::Number || text.empty()) return false;
  uint64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    const uint64_t d = static_cast<uint64_t>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

const char* Value::kind_name() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Number: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "an array";
    case Kind::Object: return "an object";
  }
  return "?";
}

namespace {

// Headers are flat; the limit only stops a hostile file from exhausting the stack.
constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* d, size_t n) : d_(d), n_(n) {}

  Value document() {
    Value v = value(0);
    skip_ws();
    if (i_ != n_) error("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail(what, " at byte ", i_); }

  void skip_ws() {
    while (i_ < n_ && (d_[i_] == ' ' || d_[i_] == '\t' || d_[i_] == '\n' || d_[i_] == '\r')) ++i_;
  }

  bool eat(char c) {
    skip_ws();
    if (i_ < n_ && d_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!eat(c)) error(std::string("expected '") + c + "'");
  }

  void literal(const char* word) {
    const size_t len = std::strlen(word);
    if (n_ - i_ < len || std::memcmp(d_ + i_, word, len) != 0) error("invalid literal");
    i_ += len;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than 64 levels");
    skip_ws();
    if (i_ >= n_) error("unexpected end of the JSON text");
    Value v;
    const char c = d_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Value::Kind::Object;
      if (eat('}')) return v;
      do {
        skip_ws();
        if (i_ >= n_ || d_[i_] != '"') error("expected a string key");
        std::string key = string();
        for (const auto& m : v.members)
          if (m.first == key) error("duplicate key \"" + key + "\"");
        expect(':');
        v.members.emplace_back(std::move(key), value(depth + 1));
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Value::Kind::Array;
      if (eat(']')) return v;
      do v.items.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Value::Kind::String;
      v.text = string();
    } else if (c == 't') {
      literal("true");
      v.kind = Value::Kind::Bool;
      v.boolean = true;
    } else if (c == 'f') {
      literal("false");
      v.kind = Value::Kind::Bool;
    } else if (c == 'n') {
      literal("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Value::Kind::Number;
      v.text = number();
    } else {
      error(std::string("unexpected character '") + c + "'");
    }
    return v;
  }

  std::string number() {
    const size_t start = i_;
    auto digits = [&] {
      const size_t s = i_;
      while (i_ < n_ && d_[i_] >= '0' && d_[i_] <= '9') ++i_;
      return i_ - s;
    };
    if (d_[i_] == '-') ++i_;
    if (i_ < n_ && d_[i_] == '0')
      ++i_;
    else if (digits() == 0)
      error("invalid number");
    if (i_ < n_ && d_[i_] == '.') {
      ++i_;
      if (digits() == 0) error("invalid number");
    }
    if (i_ < n_ && (d_[i_] == 'e' || d_[i_] == 'E')) {
      ++i_;
      if (i_ < n_ && (d_[i_] == '+' || d_[i_] == '-')) ++i_;
      if (digits() == 0) error("invalid number");
    }
    return std::string(d_ + start, i_ - start);
  }

  unsigned hex4() {
    if (n_ - i_ < 4) error("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = d_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<unsigned>(h - 'A' + 10);
      else error("invalid hex digit in a \\u escape");
    }
    return v;
  }

  static void put_utf8(std::string& s, unsigned cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++i_;  // opening quote
    std::string s;
    for (;;) {
      if (i_ >= n_) error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(d_[i_++]);
      if (c == '"') break;
      if (c < 0x20) error("control character inside a string");
      if (c != '\\') {
        s += static_cast<char>(c);
        continue;
      }
      if (i_ >= n_) error("unterminated escape");
      const char e = d_[i_++];
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (n_ - i_ < 6 || d_[i_] != '\\' || d_[i_ + 1] != 'u') error("unpaired surrogate in a \\u escape");
            i_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) error("invalid low surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired surrogate in a \\u escape");
          }
          put_utf8(s, cp);
          break;
        }
        default: error(std::string("invalid escape '\\") + e + "'");
      }
    }
    return s;
  }

  const char* d_;
  size_t n_;
  size_t i_ = 0;
};

}  // namespace

Value parse(const char* data, size_t size) { return Parser(data, size).document(); }

void write_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace cn::json
