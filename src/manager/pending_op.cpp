#include "manager/pending_op.hpp"

#include <array>
#include <utility>

namespace brood::manager {

namespace {

constexpr std::array<std::pair<PendingOp, std::string_view>, 6> kOps{{
    {PendingOp::none, ""},
    {PendingOp::start, "start"},
    {PendingOp::stop, "stop"},
    {PendingOp::standby, "standby"},
    {PendingOp::restore, "restore"},
    {PendingOp::remove, "delete"},
}};

constexpr std::array<std::pair<Backend, std::string_view>, 2> kBackends{{
    {Backend::file, "file"},
    {Backend::copy, "copy"},
}};

} // namespace

std::string_view to_string(PendingOp op) {
    for (const auto& [o, name] : kOps)
        if (o == op) return name;
    return "";
}

PendingOp pending_op_from_string(std::string_view text) {
    for (const auto& [o, name] : kOps)
        if (name == text) return o;
    return PendingOp::none;
}

std::string_view to_string(Backend backend) {
    for (const auto& [b, name] : kBackends)
        if (b == backend) return name;
    return "";
}

std::optional<Backend> backend_from_string(std::string_view text) {
    for (const auto& [b, name] : kBackends)
        if (name == text) return b;
    return std::nullopt;
}

} // namespace brood::manager
