// QEMU's half of bench_restore, plain: snapshot = QMP `stop` + `migrate` to
// `exec:cat > FILE` (QEMU 7.2 has no file: URI); restore = `-incoming
// "exec:cat FILE"` + `cont`. (Its best configuration, a shared memory file:
// restore/qemu_clones.cpp.)
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>

#include "restore/restore.hpp"
#include "support/qemu_template.hpp"

namespace brood::bench {
namespace {

// QEMU 7.2 caps migration at 32 MiB/s unless told otherwise; a save to a
// local file (what `virsh save` does too) lifts the cap.
constexpr int64_t kUnlimitedBandwidth = int64_t{1} << 40;
// How often a restoring QEMU is asked whether its incoming migration ended:
// a bound on the error this adds to QEMU's restore time.
constexpr auto kStatusPoll = std::chrono::microseconds(500);

std::vector<std::string> qemu_with_qmp(const std::string& qemu, const VmShape& shape, const std::string& qmp_path) {
    return qemu_template::with_qmp(qemu_command(qemu, shape), qmp_path);
}

Result<void> migrate_to_file(Qmp& qmp, const std::string& file, Clock::time_point deadline) {
    TRY(qmp.execute("migrate", {{"uri", fmt::format("exec:cat > {}", file)}}));
    return qemu_template::wait_migration(qmp, deadline);
}

} // namespace

Result<QemuVm> spawn_qemu_restore(const std::string& migration_file, const VmShape& shape,
                                  const std::string& qemu, const ScratchDir& scratch, const std::string& tag) {
    std::string qmp_path = scratch / (tag + ".qmp");
    ::unlink(qmp_path.c_str());
    auto command = qemu_with_qmp(qemu, shape, qmp_path);
    command.insert(command.end(), {"-S", "-incoming", fmt::format("exec:cat {}", migration_file)});
    SpawnOptions options;
    options.stderr_path = scratch / (tag + ".stderr");
    auto child = TRY(Child::spawn(command, options));
    return QemuVm{std::move(child), qmp_path, std::nullopt};
}

Result<Clock::time_point> qemu_resume(QemuVm& vm, Clock::time_point deadline) {
    vm.qmp = TRY_CTX(Qmp::connect(vm.qmp_path, deadline), vm.child.stderr_tail());
    // A `cont` sent during the incoming migration is forgotten when the
    // stream says the source was stopped (as ours was), so wait for the
    // migration to end first. (The incoming side sends no MIGRATION events
    // unless the capability was set before the migration started.)
    for (;;) {
        auto status = TRY(vm.qmp->execute("query-status"));
        if (status.value("status", "") != "inmigrate") break;
        if (Clock::now() >= deadline) return fail("QEMU: incoming migration did not finish");
        std::this_thread::sleep_for(kStatusPoll);
    }
    TRY(vm.qmp->execute("cont"));
    TRY(vm.qmp->wait_event("RESUME", deadline));
    return Clock::now();
}

Result<std::string> qemu_snapshots(const VmShape& shape, const RestoreConfig& config, const ScratchDir& scratch,
                                   Reporter& out) {
    auto tag = fmt::format("qemu-src-{}", shape.memory_mib);
    std::string qmp_path = scratch / (tag + ".qmp");
    SpawnOptions options;
    options.stderr_path = scratch / (tag + ".stderr");
    auto vm = TRY(Child::spawn(qemu_with_qmp(*config.qemu, shape, qmp_path), options));
    auto deadline = deadline_in(config.timeout);
    TRY(vm.out().wait_for("brood-guest ready", deadline));
    TRY(guest_command(vm, fmt::format("touch {} 1", config.touch_mib), "touched pages="));
    auto qmp = TRY(Qmp::connect(qmp_path, deadline));
    TRY(qmp.execute("migrate-set-parameters", {{"max-bandwidth", kUnlimitedBandwidth}}));
    TRY(qmp.execute("migrate-set-capabilities",
                    {{"capabilities", nlohmann::json::array({{{"capability", "events"}, {"state", true}}})}}));

    auto params = size_params(shape, config);
    std::string last;
    for (unsigned k = 0; k < config.snapshots; ++k) {
        std::string file = scratch / fmt::format("{}-{}.migration", tag, k);
        auto begin = Clock::now();
        TRY(qmp.execute("stop"));
        TRY(migrate_to_file(qmp, file, deadline_in(config.timeout)));
        auto completed = Clock::now();
        // brood-vmm answers once its files are fsynced; QEMU's `cat` does not
        // sync, so the bench does, and times QEMU to the same point.
        TRY(qemu_template::wait_children_gone(vm.pid(), deadline_in(config.timeout)));
        TRY(fsync_file(file));
        auto durable = Clock::now();
        auto size = TRY(file_size(file));
        out.add("qemu", "snapshot_time", "ms", params, ms_between(begin, durable));
        out.add("qemu", "snapshot_completed", "ms", params, ms_between(begin, completed));
        out.add("qemu", "snapshot_bytes_written", "bytes", params, static_cast<double>(size.apparent));
        out.add("qemu", "snapshot_allocated", "bytes", params, static_cast<double>(size.allocated));
        if (!last.empty()) ::unlink(last.c_str());
        last = file;
        if (k + 1 < config.snapshots) TRY(qmp.execute("cont"));
    }
    vm.stop(SIGKILL, Millis(0));
    return last;
}

Result<void> qemu_restores(const std::string& migration_file, const VmShape& shape, const RestoreConfig& config,
                           const ScratchDir& scratch, Reporter& out) {
    auto params = size_params(shape, config);
    params["backend"] = "migration";
    for (unsigned run = 0; run < config.runs; ++run) {
        auto tag = fmt::format("qemu-restore-{}-{}", shape.memory_mib, run);
        auto vm = TRY(spawn_qemu_restore(migration_file, shape, *config.qemu, scratch, tag));
        auto running = TRY(qemu_resume(vm, deadline_in(config.timeout)));
        auto pong = TRY(guest_command(vm.child, "ping", "pong"));
        out.add("qemu", "restore_running", "ms", params, ms_between(vm.child.started_at(), running));
        out.add("qemu", "restore_pong", "ms", params, ms_between(vm.child.started_at(), pong.at));
        if (run == 0) TRY_CTX(guest_command(vm.child, fmt::format("verify {} 1", config.touch_mib), "ok pages="), "qemu");
        vm.child.stop(SIGKILL, Millis(0));
    }
    return {};
}

} // namespace brood::bench
