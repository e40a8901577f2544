// brood-vmm's half of bench_restore: snapshot through the control API,
// restore with the copy and file backends.
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include "restore/restore.hpp"

namespace brood::bench {
namespace {

const char* const kBackends[] = {"copy", "file"};

std::string touch_command(const RestoreConfig& config) { return fmt::format("touch {} 1", config.touch_mib); }
std::string verify_command(const RestoreConfig& config) { return fmt::format("verify {} 1", config.touch_mib); }

} // namespace

nlohmann::json size_params(const VmShape& shape, const RestoreConfig& config) {
    return {{"memory_mib", shape.memory_mib}, {"touched_mib", config.touch_mib}};
}

Result<Child> spawn_brood_restore(const BroodSnapshot& snapshot, const std::string& backend,
                                  const ScratchDir& scratch, const std::string& tag) {
    auto command = brood_restore_command(snapshot.state_path, snapshot.memory_path, backend);
    std::string control = scratch / (tag + ".ctl");
    ::unlink(control.c_str()); // brood-vmm refuses an existing path
    command.insert(command.end(), {"--control-socket", control, "--ready-fd", "3"});
    SpawnOptions options;
    options.ready_pipe = true;
    options.stderr_path = scratch / (tag + ".stderr");
    return Child::spawn(command, options);
}

Result<BroodSnapshot> brood_snapshots(const VmShape& shape, const RestoreConfig& config, const ScratchDir& scratch,
                                      Reporter& out) {
    auto tag = fmt::format("brood-src-{}", shape.memory_mib);
    auto command = brood_boot_command(shape);
    std::string control_path = scratch / (tag + ".ctl");
    command.insert(command.end(), {"--control-socket", control_path, "--ready-fd", "3"});
    SpawnOptions options;
    options.ready_pipe = true;
    options.stderr_path = scratch / (tag + ".stderr");
    auto vm = TRY(Child::spawn(command, options));
    auto deadline = deadline_in(config.timeout);
    TRY(vm.wait_ready(deadline));
    TRY(vm.out().wait_for("brood-guest ready", deadline));
    TRY(guest_command(vm, touch_command(config), "touched pages="));
    auto control = TRY(BroodControl::connect(control_path));

    auto params = size_params(shape, config);
    BroodSnapshot last;
    for (unsigned k = 0; k < config.snapshots; ++k) {
        BroodSnapshot snap{scratch / fmt::format("{}-{}.state", tag, k), scratch / fmt::format("{}-{}.mem", tag, k)};
        auto begin = Clock::now();
        auto answer = TRY_CTX(control.pause_and_snapshot(snap.state_path, snap.memory_path), "brood-vmm snapshot");
        auto end = Clock::now();
        auto state = TRY(file_size(snap.state_path));
        auto memory = TRY(file_size(snap.memory_path));
        out.add("brood-vmm", "snapshot_time", "ms", params, ms_between(begin, end));
        out.add("brood-vmm", "snapshot_bytes_written", "bytes", params,
                static_cast<double>(answer.value("bytes_written", uint64_t{0})));
        out.add("brood-vmm", "snapshot_allocated", "bytes", params,
                static_cast<double>(state.allocated + memory.allocated));
        if (!last.state_path.empty()) { // keep only the newest pair on disk
            ::unlink(last.state_path.c_str());
            ::unlink(last.memory_path.c_str());
        }
        last = snap;
        if (k + 1 < config.snapshots) TRY(control.resume());
    }
    vm.kill_now();
    return last;
}

Result<void> brood_restores(const BroodSnapshot& snapshot, const VmShape& shape, const RestoreConfig& config,
                            const ScratchDir& scratch, Reporter& out) {
    for (unsigned run = 0; run < config.runs; ++run) {
        // Alternate which backend goes first: neither always follows a busy moment.
        for (unsigned b = 0; b < 2; ++b) {
            std::string backend = kBackends[(b + run) % 2];
            auto params = size_params(shape, config);
            params["backend"] = backend;
            auto tag = fmt::format("brood-{}-{}-{}", backend, shape.memory_mib, run);
            auto vm = TRY(spawn_brood_restore(snapshot, backend, scratch, tag));
            auto deadline = deadline_in(config.timeout);
            auto running = TRY(vm.wait_ready(deadline));
            auto pong = TRY(guest_command(vm, "ping", "pong"));
            out.add("brood-vmm", "restore_running", "ms", params, ms_between(vm.started_at(), running));
            out.add("brood-vmm", "restore_pong", "ms", params, ms_between(vm.started_at(), pong.at));
            // Once per backend and size, untimed: the memory came back intact.
            if (run == 0) TRY_CTX(guest_command(vm, verify_command(config), "ok pages="), backend);
            vm.stop(SIGKILL, Millis(0));
        }
    }
    return {};
}

} // namespace brood::bench
