// The box broodd asks each VMM to run in (brood-vmm --jail, docs/security.md):
// the arguments that ask for it, and the directories handed to the uid the
// VMM becomes, which it writes after it dropped root (its instance
// directory, its logs, a snapshot being staged).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "manager/instance_record.hpp"
#include "manager/layout.hpp"

namespace brood::manager {

struct VmmJail {
    bool enabled = false;
    uint32_t uid_base = 0; // 0: the VMM keeps broodd's uid

    // uid (and gid) of the instance's VMM: uid_base + its vsock CID.
    std::optional<uid_t> uid_of(const InstanceRecord& record) const;
    // --jail [--jail-uid U --jail-gid U --jail-dir DIR]; none when off.
    std::vector<std::string> args(const Layout& layout, const InstanceRecord& record) const;
    // chown()s each directory to the instance's VMM uid, when it has one.
    Result<void> hand_over(const InstanceRecord& record, const std::vector<std::string>& dirs) const;
};

} // namespace brood::manager
