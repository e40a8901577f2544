// The persistent record of one instance: guests/<id>/metadata.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "manager/disk_record.hpp"
#include "manager/instance_state.hpp"
#include "manager/pending_op.hpp"

namespace brood::manager {

// Why a VMM process ended.
struct ExitInfo {
    std::optional<int> exit_code; // brood-vmm's exit code (docs/interfaces.md)
    std::optional<int> signal;    // set when it was killed by a signal
    std::string reason;
    std::string at;               // RFC 3339
};

struct InstanceRecord {
    std::string id;
    std::string name;
    std::string kernel;
    std::string initrd;
    std::string cmdline;
    uint32_t memory_mib = 128;
    uint32_t vcpus = 1;
    std::vector<DiskRecord> disks; // virtio-blk devices, in order
    // The guest's vsock address: unique among the daemon's instances, kept
    // for the instance's life; every fork gets its own. 0: none yet (a
    // record from before vsock), the daemon assigns one when it loads it.
    uint32_t vsock_cid = 0;
    std::string created_at;
    std::string updated_at;

    State state = State::created; // last committed state
    // An operation that began and has not committed yet; the daemon
    // finishes or rolls it back on restart.
    PendingOp pending_op = PendingOp::none;
    int vmm_pid = 0;                        // when a VMM runs
    std::optional<Backend> restore_backend; // backend of the last restore (none: never restored)
    std::optional<ExitInfo> last_exit;
    // The guest runs brood-agent (docs/guest-agent.md): forks get fresh
    // entropy through it before they are reported Running.
    bool agent = false;
    // The instance's NIC (docs/networking.md): the bridge its TAP is on
    // (empty: no NIC), the TAP, and the MAC and IPv4 address it was given;
    // every fork gets its own.
    std::string bridge;
    std::string tap;
    std::string mac;
    std::string ip;

    // Set on forks.
    std::string template_id;
    std::string source_instance_id;
};

nlohmann::json to_json(const InstanceRecord& record);
// Throws nlohmann::json::exception on a malformed record (an edge).
InstanceRecord record_from_json(const nlohmann::json& json);

Result<InstanceRecord> load_record(const std::string& path);
[[nodiscard]] Result<void> save_record(const std::string& path, const InstanceRecord& record);

std::string now_rfc3339();

} // namespace brood::manager
