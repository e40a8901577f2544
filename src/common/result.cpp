#include "common/result.hpp"

#include <cstring>

namespace brood {

Error Error::from_errno(std::string_view what) { return from_errno(what, errno); }

Error Error::from_errno(std::string_view what, int errno_value) {
    std::string text(what);
    text += ": ";
    text += std::strerror(errno_value);
    return Error(std::move(text), errno_value);
}

Error Error::context(std::string_view what) && {
    std::string text(what);
    text += ": ";
    text += _message;
    _message = std::move(text);
    return std::move(*this);
}

Error Error::context(std::string_view what) const& {
    Error copy = *this;
    return std::move(copy).context(what);
}

} // namespace brood
