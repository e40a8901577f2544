#include "vmm/snapshot_writer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "common/defer.hpp"
#include "common/dir_swap.hpp"
#include "vmm/snapshot/pair_rename.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood {
namespace {

Result<std::string> string_field(const nlohmann::json& body, const char* name) {
    if (!body[name].is_string()) return fail(fmt::format("\"{}\" must be a string", name));
    auto value = body[name].get<std::string>();
    if (value.empty()) return fail(fmt::format("\"{}\" must not be empty", name));
    return value;
}

// A new directory beside `dir`, written completely, then swapped in.
Result<snapshot::MemoryWriteStats> write_snapshot_dir(Machine& machine, const SnapshotRequest& req,
                                                      const std::vector<uint8_t>& state_bytes) {
    std::string staged = fmt::format("{}.tmp-{}", req.dir, ::getpid());
    std::error_code ec;
    std::filesystem::remove_all(staged, ec); // left by a crashed VMM of this pid
    if (::mkdir(staged.c_str(), 0755) != 0) return fail(Error::from_errno(fmt::format("create {}", staged)));
    Defer cleanup([&] { std::filesystem::remove_all(staged, ec); });
    auto stats = TRY_CTX(snapshot::write_memory_file(machine.memory(), staged + "/memory", req.diff),
                         "write memory file");
    TRY_CTX(snapshot::write_file_atomically(staged + "/state", state_bytes), "write state file");
    TRY(sync_dir_files(staged));
    TRY(swap_in_dir(staged, req.dir));
    cleanup.cancel();
    return stats;
}

} // namespace

Result<SnapshotRequest> parse_snapshot_request(const nlohmann::json& body) {
    if (!body.is_object()) return fail("snapshot request must be a JSON object");
    SnapshotRequest req;
    if (body.contains("diff")) {
        if (!body["diff"].is_boolean()) return fail("\"diff\" must be true or false");
        req.diff = body["diff"].get<bool>();
    }
    bool paths = body.contains("state_path") || body.contains("memory_path");
    if (body.contains("snapshot_dir")) {
        if (paths) return fail("snapshot request takes \"snapshot_dir\" or \"state_path\" and \"memory_path\", not both");
        req.dir = TRY(string_field(body, "snapshot_dir"));
        while (req.dir.size() > 1 && req.dir.back() == '/') req.dir.pop_back();
        if (req.dir == "/") return fail("\"snapshot_dir\" must not be /");
        req.state_path = req.dir + "/state";
        req.memory_path = req.dir + "/memory";
        return req;
    }
    if (!body.contains("state_path") || !body.contains("memory_path"))
        return fail("snapshot request needs \"snapshot_dir\", or \"state_path\" and \"memory_path\"");
    req.state_path = TRY(string_field(body, "state_path"));
    req.memory_path = TRY(string_field(body, "memory_path"));
    if (req.state_path == req.memory_path) return fail("state_path and memory_path must differ");
    return req;
}

Result<snapshot::MemoryWriteStats> write_snapshot(Machine& machine, const SnapshotRequest& req) {
    if (!machine.paused()) return fail("pause the VM before a snapshot");
    auto state_bytes = TRY(machine.persist().save());
    // A directory is never written in place: the file this VM maps, if it is
    // the directory's memory, stays whole until the new pair replaces it.
    if (!req.dir.empty()) return write_snapshot_dir(machine, req, state_bytes);

    // The same file by device and inode: in a box the path the VM was
    // restored from no longer resolves, but its descriptor does.
    const auto& backing = machine.memory().backing();
    struct stat mapped {}, target {};
    if (backing && ::fstat(backing->fd.get(), &mapped) == 0 && ::stat(req.memory_path.c_str(), &target) == 0 &&
        mapped.st_dev == target.st_dev && mapped.st_ino == target.st_ino)
        return fail(fmt::format("refusing to write {}: this VM maps it", req.memory_path));
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
    TRY(snapshot::rename_pair({state_tmp, memory_tmp}, {req.state_path, req.memory_path}));
    cleanup.cancel();
    return stats;
}

} // namespace brood
