#pragma once
// Expected failures travel as values: a Result<T> holds either a T or an Error whose message
// names the thing at fault (file, key, entry, id, port). Exceptions are kept for bugs.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace baton {

// What kind of failure, so callers (HTTP handlers, the CLI's exit codes) can map it.
enum class Errc {
  invalid,      // the input is malformed or breaks a rule
  not_found,    // the thing named does not exist
  conflict,     // the request clashes with current state (e.g. unload while running)
  ambiguous,    // an id prefix matches more than one thing
  unavailable,  // a peer or resource is not there now (daemon down, port range full)
  limit,        // a configured limit was exceeded (size, entries, ratio)
  io,           // the operating system refused (disk full, permission)
  internal,     // a bug or broken invariant
};

struct Error {
  Errc code = Errc::internal;
  std::string message;

  // Prefix the message with context, e.g. error.within("bundle.conf").
  Error within(const std::string& context) && {
    message = context + ": " + message;
    return std::move(*this);
  }
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace baton

// Return the error of `expr` from the enclosing function when it failed.
#define BATON_TRY(expr)                                      \
  do {                                                       \
    if (auto baton_try_result_ = (expr); !baton_try_result_) \
      return std::move(baton_try_result_).error();           \
  } while (false)

#define BATON_CONCAT_INNER_(a, b) a##b
#define BATON_CONCAT_(a, b) BATON_CONCAT_INNER_(a, b)
#define BATON_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp) return std::move(tmp).error();           \
  lhs = std::move(tmp).value()

// `BATON_ASSIGN_OR_RETURN(auto x, f());` declares x from f()'s value or returns its error.
#define BATON_ASSIGN_OR_RETURN(lhs, expr) \
  BATON_ASSIGN_OR_RETURN_IMPL_(BATON_CONCAT_(baton_result_, __LINE__), lhs, expr)
