// The two things the benches compare, as command lines and small drivers:
// brood-vmm (serial on stdio, control API) and QEMU microvm (serial on
// stdio, QMP), both running the in-repo test guest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/client.hpp"
#include "common/result.hpp"
#include "support/child.hpp"

namespace brood::bench {

struct VmShape {
    uint64_t memory_mib = 128;
    unsigned vcpus = 1;
    uint64_t memory_bytes() const { return memory_mib << 20; }
};

// brood-vmm boot --kernel GUEST --memory-mib N --vcpus N --serial-stdio
std::vector<std::string> brood_boot_command(const VmShape& shape);
// brood-vmm restore --state S --memory M --backend B --serial-stdio
std::vector<std::string> brood_restore_command(const std::string& state, const std::string& memory,
                                               const std::string& backend);

// qemu-system-x86_64 -M microvm with KVM booting the test guest, serial on stdio.
std::vector<std::string> qemu_command(const std::string& qemu, const VmShape& shape);

// The guest's next answer line, which must contain `expect`.
[[nodiscard]] Result<Line> guest_answer(Child& vm, const std::string& expect, Clock::time_point deadline);
// Types `command` on the guest's serial console; its answer line.
[[nodiscard]] Result<Line> guest_command(Child& vm, const std::string& command, const std::string& expect,
                                         Millis timeout = Millis(20'000));

// brood-vmm's control API.
class BroodControl final {
public:
    [[nodiscard]] static Result<BroodControl> connect(const std::string& socket_path);
    // PUT /vm/pause then PUT /vm/snapshot (full); the snapshot call's answer.
    [[nodiscard]] Result<nlohmann::json> pause_and_snapshot(const std::string& state_path,
                                                            const std::string& memory_path);
    [[nodiscard]] Result<void> resume();

private:
    explicit BroodControl(http::Client client) : _client(std::move(client)) {}
    http::Client _client;
};

} // namespace brood::bench
