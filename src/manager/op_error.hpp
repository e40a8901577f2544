// What a manager operation reports to its caller: a kind the API maps to an
// HTTP status, a stable code for scripts, and a sentence for humans.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

#include "common/result.hpp"

namespace brood::manager {

// vmm_died: the instance's VMM ended while an operation needed it (the
// instance is then Failed, or Stopped if its guest powered off).
// agent_unreachable: the guest agent could not be reached over vsock.
// too_large: a file or body over a size limit.
enum class ErrorKind {
    bad_request, not_found, conflict, not_supported, timeout, vmm_died, agent_unreachable, too_large, internal
};

struct OpError {
    ErrorKind kind = ErrorKind::internal;
    std::string code = "internal";
    std::string message;

    OpError() = default;
    OpError(ErrorKind k, std::string c, std::string m) : kind(k), code(std::move(c)), message(std::move(m)) {}
    // Any lower-level Error is an internal fault unless classified.
    OpError(Error e) : message(e.message()) {} // NOLINT(google-explicit-constructor): lets TRY lift Errors
};

template <typename T = void>
using OpResult = tl::expected<T, OpError>;

inline tl::unexpected<OpError> op_fail(ErrorKind kind, std::string code, std::string message) {
    return tl::unexpected(OpError(kind, std::move(code), std::move(message)));
}
inline tl::unexpected<OpError> bad_request(std::string message) {
    return op_fail(ErrorKind::bad_request, "bad_request", std::move(message));
}
inline tl::unexpected<OpError> not_found(std::string message) {
    return op_fail(ErrorKind::not_found, "not_found", std::move(message));
}
inline tl::unexpected<OpError> wrong_state(std::string message) {
    return op_fail(ErrorKind::conflict, "wrong_state", std::move(message));
}
inline tl::unexpected<OpError> name_taken(std::string message) {
    return op_fail(ErrorKind::conflict, "name_taken", std::move(message));
}
inline tl::unexpected<OpError> in_use(std::string message) {
    return op_fail(ErrorKind::conflict, "in_use", std::move(message));
}
inline tl::unexpected<OpError> busy(std::string message) {
    return op_fail(ErrorKind::conflict, "busy", std::move(message));
}
inline tl::unexpected<OpError> not_supported(std::string message) {
    return op_fail(ErrorKind::not_supported, "not_supported", std::move(message));
}
inline tl::unexpected<OpError> timed_out(std::string message) {
    return op_fail(ErrorKind::timeout, "timeout", std::move(message));
}
inline tl::unexpected<OpError> vmm_died(std::string message) {
    return op_fail(ErrorKind::vmm_died, "vmm_died", std::move(message));
}
inline tl::unexpected<OpError> internal(std::string message) {
    return op_fail(ErrorKind::internal, "internal", std::move(message));
}

} // namespace brood::manager
