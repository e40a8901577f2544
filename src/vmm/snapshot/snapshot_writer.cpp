#include "vmm/snapshot/snapshot_writer.hpp"

#include <algorithm>

#include <stdlib.h>
#include <unistd.h>

#include <climits>

#include <fmt/format.h>

#include "common/defer.hpp"
#include "vmm/arch/x86_64/msr.hpp"
#include "vmm/snapshot/machine_state.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood {
namespace {

std::string resolved(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// The MSRs to save: our list, less those this host's KVM cannot save
// (KVM's index list omits the MTRRs it emulates; the arch code knows).
Result<std::vector<uint32_t>> msrs_to_save(Machine& machine) {
    auto host = TRY(machine.kvm().msr_index_list());
    return x86::snapshot_msrs_for_host(host);
}

Result<snapshot::MachineSnapshot> capture(Machine& machine) {
    snapshot::MachineSnapshot snap;
    snap.config.memory_bytes = machine.memory().size();
    snap.config.vcpus = machine.vcpu_count();
    snap.config.boot_description = machine.boot_description();
    snap.vm = TRY_CTX(machine.vm().save_state(), "save VM state");
    auto msrs = TRY(msrs_to_save(machine));
    for (auto& vcpu : machine.vcpus()) {
        snapshot::VcpuSnapshot v;
        v.cpuid = machine.cpuid_tables().at(vcpu.index());
        v.state = TRY_CTX(vcpu.save_state(msrs), fmt::format("save vcpu {}", vcpu.index()));
        snap.vcpus.push_back(std::move(v));
    }
    snap.serial = machine.serial().save();
    snap.i8042 = machine.i8042().save();
    return snap;
}

} // namespace

Result<SnapshotRequest> parse_snapshot_request(const nlohmann::json& body) {
    if (!body.is_object()) return fail("snapshot request must be a JSON object");
    SnapshotRequest req;
    if (!body.contains("state_path") || !body["state_path"].is_string() || !body.contains("memory_path") ||
        !body["memory_path"].is_string())
        return fail("snapshot request needs \"state_path\" and \"memory_path\" strings");
    req.state_path = body["state_path"].get<std::string>();
    req.memory_path = body["memory_path"].get<std::string>();
    req.diff = body.value("diff", false);
    if (req.state_path.empty() || req.memory_path.empty()) return fail("snapshot paths must not be empty");
    if (req.state_path == req.memory_path) return fail("state_path and memory_path must differ");
    return req;
}

Result<snapshot::MemoryWriteStats> write_snapshot(Machine& machine, const SnapshotRequest& req) {
    if (!machine.paused()) return fail("pause the VM before a snapshot");
    const auto& backing = machine.memory().backing();
    if (backing && resolved(backing->path) == resolved(req.memory_path))
        return fail(fmt::format("refusing to write {}: this VM maps it", req.memory_path));

    auto snap = TRY(capture(machine));
    auto state_bytes = snapshot::encode_snapshot(snap);

    std::string memory_tmp = req.memory_path + ".tmp";
    std::string state_tmp = req.state_path + ".tmp";
    ::unlink(memory_tmp.c_str());
    ::unlink(state_tmp.c_str());
    Defer cleanup([&] {
        ::unlink(memory_tmp.c_str());
        ::unlink(state_tmp.c_str());
    });
    auto stats = TRY_CTX(snapshot::write_memory_file(machine.memory(), memory_tmp, req.diff), "write memory file");
    TRY_CTX(snapshot::write_file_atomically(state_tmp, state_bytes), "write state file");
    // Memory first: a state file never points at memory that is not there yet.
    if (::rename(memory_tmp.c_str(), req.memory_path.c_str()) < 0)
        return fail(Error::from_errno(fmt::format("rename memory file to {}", req.memory_path)));
    if (::rename(state_tmp.c_str(), req.state_path.c_str()) < 0)
        return fail(Error::from_errno(fmt::format("rename state file to {}", req.state_path)));
    cleanup.cancel();
    return stats;
}

} // namespace brood
