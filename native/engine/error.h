// Errors raised by the engine. Every one carries a message a user can act on;
// the N-API layer turns them into JavaScript Errors (see bindings/op_call.h).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace cn {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... R>
void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

template <typename... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace cn

// CN_CHECK(cond, "message parts", value, ...): throws cn::Error when cond is false.
#define CN_CHECK(cond, ...)          \
  do {                               \
    if (!(cond)) ::cn::fail(__VA_ARGS__); \
  } while (0)
