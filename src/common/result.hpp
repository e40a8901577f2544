// Error handling: a Result<T> is either a value or an Error whose text reads
// as a sentence, built outward as it travels up ("restore vcpu 1: KVM_SET_XSAVE:
// Invalid argument").
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace brood {

class Error final {
public:
    Error() = default;
    explicit Error(std::string message, int errno_value = 0)
        : _message(std::move(message)), _errno(errno_value) {}

    // "what: <strerror(errno)>", capturing errno at the call site.
    static Error from_errno(std::string_view what);
    static Error from_errno(std::string_view what, int errno_value);

    // Prefix with the operation that failed one level up.
    [[nodiscard]] Error context(std::string_view what) &&;
    [[nodiscard]] Error context(std::string_view what) const&;

    const std::string& message() const { return _message; }
    int errno_value() const { return _errno; }

private:
    std::string _message;
    int _errno = 0;
};

template <typename T = void>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message, int errno_value = 0) {
    return tl::unexpected(Error(std::move(message), errno_value));
}
inline tl::unexpected<Error> fail_errno(std::string_view what) {
    return tl::unexpected(Error::from_errno(what));
}
inline tl::unexpected<Error> fail(Error error) { return tl::unexpected(std::move(error)); }

} // namespace brood

namespace brood::detail {
// tl::expected 1.0 (Debian 12) has no value() for expected<void, E>.
template <typename T, typename E>
T try_unwrap(tl::expected<T, E>&& result) { return std::move(*result); }
template <typename E>
void try_unwrap(tl::expected<void, E>&&) {}
template <typename T, typename E>
T try_unwrap(const tl::expected<T, E>& result) { return *result; }
template <typename E>
void try_unwrap(const tl::expected<void, E>&) {}
} // namespace brood::detail

// TRY(expr): evaluate a Result; on error return it from the enclosing
// function, otherwise yield the value. TRY_CTX adds a context prefix.
#define BROOD_TRY_IMPL(expr, ctx_expr)                                          \
    ({                                                                          \
        auto&& brood_try_result_ = (expr);                                      \
        if (!brood_try_result_) [[unlikely]]                                    \
            return ::tl::unexpected(                                            \
                ctx_expr(std::move(brood_try_result_).error()));                \
        ::brood::detail::try_unwrap(std::move(brood_try_result_));              \
    })
#define BROOD_TRY_NOCTX(e) (e)
#define TRY(expr) BROOD_TRY_IMPL(expr, BROOD_TRY_NOCTX)
#define TRY_CTX(expr, what)                                                     \
    BROOD_TRY_IMPL(expr, [&](::brood::Error&& e) { return std::move(e).context(what); })
