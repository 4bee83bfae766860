// Error values for everything that reads outside input (files, flags, requests).
// Design principle: bad input is an error, never a crash; the message says what was expected and
// what was found.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <variant>

namespace mla {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }
  // Prefixes context ("reading model.gguf: ...") while the error travels up.
  Status Wrap(const std::string& context) const {
    return ok_ ? *this : Error(context + ": " + message_);
  }

 private:
  bool ok_ = true;
  std::string message_;
};

// printf-style message builder for errors.
template <typename... Args>
std::string Format(const char* fmt, Args... args) {
  int n = std::snprintf(nullptr, 0, fmt, args...);
  std::string out(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0) std::snprintf(out.data(), out.size() + 1, fmt, args...);
  return out;
}

template <typename... Args>
Status Errorf(const char* fmt, Args... args) {
  return Status::Error(Format(fmt, args...));
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mla

#define MLA_CONCAT_INNER(a, b) a##b
#define MLA_CONCAT(a, b) MLA_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` (a Status) is an error.
#define MLA_RETURN_IF_ERROR(expr)             \
  do {                                        \
    ::mla::Status mla_status_ = (expr);       \
    if (!mla_status_.ok()) return mla_status_; \
  } while (0)

// `MLA_ASSIGN_OR_RETURN(auto x, F())`: unwraps a Result or returns its Status.
#define MLA_ASSIGN_OR_RETURN(lhs, expr) \
  MLA_ASSIGN_OR_RETURN_IMPL(MLA_CONCAT(mla_result_, __LINE__), lhs, expr)
#define MLA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
