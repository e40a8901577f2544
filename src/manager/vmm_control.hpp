// Client of one VMM's control API (docs/interfaces.md).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace brood::manager {

class VmmControl final {
public:
    explicit VmmControl(std::string socket_path) : _path(std::move(socket_path)) {}

    [[nodiscard]] Result<nlohmann::json> get_vm(int timeout_ms = 5'000) const;
    [[nodiscard]] Result<void> pause(int timeout_ms = 10'000) const;
    [[nodiscard]] Result<void> resume(int timeout_ms = 10'000) const;
    // `diff`: the VM maps its memory from a file (backend file); the VMM
    // writes a copy of that file plus the pages the guest wrote, into the
    // new `memory_path` (never into the file it maps).
    [[nodiscard]] Result<void> snapshot(const std::string& state_path, const std::string& memory_path,
                                        int timeout_ms, bool diff = false) const;
    [[nodiscard]] Result<void> shutdown(bool force, int graceful_timeout_ms) const;

private:
    [[nodiscard]] Result<std::string> call(const char* method, const char* path, const std::string& body,
                                           int timeout_ms) const;
    std::string _path;
};

} // namespace brood::manager
