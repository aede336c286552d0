// Result<T>: the return type of every operation that can fail in a way the caller is expected to
// handle (bad YAML, a missing file, a database that cannot be opened, a refused process start).
// Invariants use OD_CHECK (check.hpp) instead; exceptions are not used across part boundaries.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace overdrive {

enum class ErrorCode {
  kInvalidInput,      // the user's input is wrong (YAML, flag, value); exit code 2 at the CLI
  kNotFound,          // a run, file, model... that does not exist
  kAlreadyExists,     // a create that collides with an existing record
  kFailedPrecondition,// the operation is not allowed in the current state (e.g. run finished)
  kIo,                // a file system or process error
  kStorage,           // the metadata store failed
  kUnavailable,       // a service (database, cluster) cannot be reached
  kInternal,          // a bug
  kTooLarge,          // input over a configured size limit (HTTP 413); exit code 2 at the CLI
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line a user can act on; for input errors "file:line:col: ..."
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

// Propagates the error of an expression yielding a Result.
#define OD_TRY(expr)                                           \
  do {                                                         \
    auto od_try_result_ = (expr);                              \
    if (!od_try_result_) return std::unexpected(od_try_result_.error()); \
  } while (0)

// Assigns the value of a Result expression to `lhs`, or returns its error.
#define OD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)               \
  auto tmp = (expr);                                           \
  if (!tmp) return std::unexpected(tmp.error());               \
  lhs = std::move(*tmp)
#define OD_CONCAT_INNER(a, b) a##b
#define OD_CONCAT(a, b) OD_CONCAT_INNER(a, b)
#define OD_ASSIGN_OR_RETURN(lhs, expr) \
  OD_ASSIGN_OR_RETURN_IMPL(OD_CONCAT(od_result_, __LINE__), lhs, expr)

}  // namespace overdrive
