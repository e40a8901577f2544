// Helpers for snapshot tests: pause + snapshot through the control API,
// restore into a new process, and a digest of a file's contents.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "file_hash.hpp"
#include "vm_process.hpp"

namespace brood::test {

// Pauses `vm` and writes a snapshot; returns the API's answer.
inline Result<nlohmann::json> take_snapshot(VmProcess& vm, const std::string& state, const std::string& memory,
                                            bool diff = false) {
    auto paused = TRY(vm.api("PUT", "/vm/pause"));
    if (paused.status != 204) return fail("pause failed: " + paused.body);
    auto body = nlohmann::json{{"state_path", state}, {"memory_path", memory}, {"diff", diff}}.dump();
    auto r = TRY(vm.api("PUT", "/vm/snapshot", body));
    if (r.status != 200) return fail(nlohmann::json::parse(r.body).value("message", r.body));
    return nlohmann::json::parse(r.body);
}

// Pauses `vm` and writes a snapshot directory (`dir`/state + `dir`/memory,
// replaced as one unit).
inline Result<nlohmann::json> take_snapshot_dir(VmProcess& vm, const std::string& dir, bool diff = false) {
    auto paused = TRY(vm.api("PUT", "/vm/pause"));
    if (paused.status != 204) return fail("pause failed: " + paused.body);
    auto r = TRY(vm.api("PUT", "/vm/snapshot", nlohmann::json{{"snapshot_dir", dir}, {"diff", diff}}.dump()));
    if (r.status != 200) return fail(nlohmann::json::parse(r.body).value("message", r.body));
    return nlohmann::json::parse(r.body);
}

inline Result<VmProcess> restore(const std::string& state, const std::string& memory, const std::string& backend,
                                 const std::string& dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"restore", "--state", state, "--memory", memory, "--backend", backend};
    args.insert(args.end(), extra.begin(), extra.end());
    return VmProcess::start(args, dir);
}

// A digest of the file's contents, as a string for test messages.
inline std::string file_digest(const std::string& path) { return std::to_string(file_hash(path)); }

} // namespace brood::test
