#include "support/subjects.hpp"

#include <fmt/format.h>

#include "support/environment.hpp"

namespace brood::bench {

std::vector<std::string> brood_boot_command(const VmShape& shape) {
    return {vmm_path(),     "boot",    "--kernel", test_guest_path(), "--memory-mib", std::to_string(shape.memory_mib),
            "--vcpus",      std::to_string(shape.vcpus), "--serial-stdio"};
}

std::vector<std::string> brood_restore_command(const std::string& state, const std::string& memory,
                                               const std::string& backend) {
    return {vmm_path(), "restore", "--state", state, "--memory", memory, "--backend", backend, "--serial-stdio"};
}

std::vector<std::string> qemu_command(const std::string& qemu, const VmShape& shape) {
    // `-cpu host` alone fails on nested kvm_pvm hosts (MSR 0x10a); microvm has
    // no MP table, so the guest learns its CPU count from the command line.
    // The test guest reads no ACPI; with ACPI tables (QEMU 8 and later make
    // them by default) QEMU's microvm firmware took 3.8 s to boot it, not 70 ms.
    return {qemu,
            "-M", "microvm,acpi=off",
            "-enable-kvm",
            "-cpu", "host,-arch-capabilities",
            "-m", std::to_string(shape.memory_mib),
            "-smp", std::to_string(shape.vcpus),
            "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio",
            "-kernel", test_guest_path(),
            "-append", fmt::format("cpus={}", shape.vcpus)};
}

Result<Line> guest_answer(Child& vm, const std::string& expect, Clock::time_point deadline) {
    for (;;) { // the answer is the next non-empty line
        auto line = TRY(vm.out().next_line(deadline));
        if (line.text.empty()) continue;
        if (line.text.find(expect) == std::string::npos)
            return fail(fmt::format("expected \"{}\", got \"{}\"", expect, line.text));
        return line;
    }
}

Result<Line> guest_command(Child& vm, const std::string& command, const std::string& expect, Millis timeout) {
    TRY(vm.send(command + "\n"));
    return TRY_CTX(guest_answer(vm, expect, deadline_in(timeout)), fmt::format("{} \"{}\"", vm.name(), command));
}

Result<BroodControl> BroodControl::connect(const std::string& socket_path) {
    auto client = TRY_CTX(http::Client::connect_unix(socket_path), "connect to the control API");
    return BroodControl(std::move(client));
}

Result<nlohmann::json> BroodControl::pause_and_snapshot(const std::string& state_path,
                                                        const std::string& memory_path) {
    auto paused = TRY(_client.request("PUT", "/vm/pause"));
    if (paused.status / 100 != 2) return fail(fmt::format("PUT /vm/pause: {} {}", paused.status, paused.body));
    auto body = nlohmann::json{{"state_path", state_path}, {"memory_path", memory_path}, {"diff", false}}.dump();
    auto r = TRY(_client.request("PUT", "/vm/snapshot", body, 120'000));
    if (r.status / 100 != 2) return fail(fmt::format("PUT /vm/snapshot: {} {}", r.status, r.body));
    if (r.body.empty()) return nlohmann::json::object();
    try {
        return nlohmann::json::parse(r.body);
    } catch (const nlohmann::json::exception& e) {
        return fail(fmt::format("PUT /vm/snapshot: bad answer \"{}\": {}", r.body, e.what()));
    }
}

Result<void> BroodControl::resume() {
    auto r = TRY(_client.request("PUT", "/vm/resume"));
    if (r.status / 100 != 2) return fail(fmt::format("PUT /vm/resume: {} {}", r.status, r.body));
    return {};
}

} // namespace brood::bench
