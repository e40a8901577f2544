#include "manager/vmm_jail.hpp"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace brood::manager {

std::optional<uid_t> VmmJail::uid_of(const InstanceRecord& record) const {
    if (!enabled || uid_base == 0 || record.vsock_cid == 0) return std::nullopt;
    return static_cast<uid_t>(uid_base + record.vsock_cid);
}

std::vector<std::string> VmmJail::args(const Layout& layout, const InstanceRecord& record) const {
    if (!enabled) return {};
    std::vector<std::string> out{"--jail"};
    if (auto uid = uid_of(record)) {
        const std::string id = std::to_string(*uid);
        out.insert(out.end(), {"--jail-uid", id, "--jail-gid", id, "--jail-dir", layout.instance_dir(record.id)});
    }
    return out;
}

Result<void> VmmJail::hand_over(const InstanceRecord& record, const std::vector<std::string>& dirs) const {
    auto uid = uid_of(record);
    if (!uid) return {};
    for (const auto& dir : dirs)
        if (::chown(dir.c_str(), *uid, static_cast<gid_t>(*uid)) != 0 && errno != ENOENT)
            return fail_errno(fmt::format("hand {} to the VMM's uid {}", dir, *uid));
    return {};
}

} // namespace brood::manager
