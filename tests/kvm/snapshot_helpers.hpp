// Helpers for snapshot tests: pause + snapshot through the control API,
// restore into a new process, and a digest of a file's contents.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

inline Result<VmProcess> restore(const std::string& state, const std::string& memory, const std::string& backend,
                                 const std::string& dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"restore", "--state", state, "--memory", memory, "--backend", backend};
    args.insert(args.end(), extra.begin(), extra.end());
    return VmProcess::start(args, dir);
}

// FNV-1a over the whole file: enough to notice any change.
inline std::string file_digest(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    uint64_t h = 1469598103934665603ull;
    std::vector<char> buf(1 << 20);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) {
            h ^= static_cast<uint8_t>(buf[static_cast<size_t>(i)]);
            h *= 1099511628211ull;
        }
    }
    return std::to_string(h);
}

} // namespace brood::test
