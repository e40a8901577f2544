#include "vmm/snapshot_writer.hpp"

#include <algorithm>

#include <stdlib.h>
#include <unistd.h>

#include <climits>

#include <fmt/format.h>

#include "common/defer.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood {
namespace {

std::string resolved(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
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

    auto state_bytes = TRY(machine.persist().save());

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
