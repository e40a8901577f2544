// QEMU's best configuration in bench_restore, as VM templating uses it: the
// source's RAM is a shared memory file (memory-backend-file, share=on), its
// snapshot is the device state alone (x-ignore-shared), and each restore is
// a clone that maps the memory file privately (share=off) and loads that
// state with `-incoming defer` + `migrate-incoming` (support/qemu_template.hpp).
#include <signal.h>

#include <fmt/format.h>

#include "restore/restore.hpp"
#include "support/qemu_template.hpp"

namespace brood::bench {
namespace {

nlohmann::json clone_params(const VmShape& shape, const RestoreConfig& config) {
    auto params = size_params(shape, config);
    params["backend"] = "shared-file";
    return params;
}

} // namespace

Result<QemuTemplate> qemu_template_snapshot(const VmShape& shape, const RestoreConfig& config,
                                            const ScratchDir& scratch, Reporter& out) {
    auto tag = fmt::format("qemu-tpl-{}", shape.memory_mib);
    QemuTemplate tpl{scratch / (tag + ".mem"), scratch / (tag + ".state")};
    std::string qmp_path = scratch / (tag + ".qmp");
    SpawnOptions options;
    options.stderr_path = scratch / (tag + ".stderr");
    auto command = qemu_template::with_qmp(
        qemu_template::with_memory_file(qemu_command(*config.qemu, shape), shape.memory_mib, tpl.memory_path, true),
        qmp_path);
    auto vm = TRY(Child::spawn(command, options));
    auto deadline = deadline_in(config.timeout);
    TRY_CTX(vm.out().wait_for("brood-guest ready", deadline), vm.stderr_tail());
    TRY(guest_command(vm, fmt::format("touch {} 1", config.touch_mib), "touched pages="));
    auto qmp = TRY(Qmp::connect(qmp_path, deadline));
    // Once: the source must not run again while clones map its memory.
    auto begin = Clock::now();
    TRY(qemu_template::save_template(qmp, vm.pid(), tpl.state_path, deadline));
    // Durable like brood-vmm's snapshot: the state and the memory file.
    TRY(fsync_file(tpl.state_path));
    TRY(fsync_file(tpl.memory_path));
    auto durable = Clock::now();
    auto params = clone_params(shape, config);
    out.add("qemu", "snapshot_time", "ms", params, ms_between(begin, durable));
    auto state = TRY(file_size(tpl.state_path));
    auto memory = TRY(file_size(tpl.memory_path));
    out.add("qemu", "snapshot_bytes_written", "bytes", params, static_cast<double>(state.apparent));
    out.add("qemu", "snapshot_allocated", "bytes", params, static_cast<double>(state.allocated + memory.allocated));
    vm.stop(SIGKILL, Millis(0));
    return tpl;
}

Result<QemuVm> spawn_qemu_clone(const QemuTemplate& tpl, const VmShape& shape, const std::string& qemu,
                                const ScratchDir& scratch, const std::string& tag) {
    std::string qmp_path = scratch / (tag + ".qmp");
    ::unlink(qmp_path.c_str());
    auto command = qemu_template::clone_command(qemu_command(qemu, shape), shape.memory_mib, tpl.memory_path, qmp_path);
    SpawnOptions options;
    options.stderr_path = scratch / (tag + ".stderr");
    return QemuVm{TRY(Child::spawn(command, options)), qmp_path, std::nullopt};
}

Result<Clock::time_point> qemu_clone_resume(QemuVm& vm, const QemuTemplate& tpl, Clock::time_point deadline) {
    vm.qmp = TRY(qemu_template::resume_clone(vm.child, vm.qmp_path, tpl.state_path, deadline));
    return Clock::now();
}

Result<void> qemu_clone_restores(const QemuTemplate& tpl, const VmShape& shape, const RestoreConfig& config,
                                 const ScratchDir& scratch, Reporter& out) {
    auto params = clone_params(shape, config);
    for (unsigned run = 0; run < config.runs; ++run) {
        auto tag = fmt::format("qemu-clone-{}-{}", shape.memory_mib, run);
        auto vm = TRY(spawn_qemu_clone(tpl, shape, *config.qemu, scratch, tag));
        auto running = TRY(qemu_clone_resume(vm, tpl, deadline_in(config.timeout)));
        auto pong = TRY(guest_command(vm.child, "ping", "pong"));
        out.add("qemu", "restore_running", "ms", params, ms_between(vm.child.started_at(), running));
        out.add("qemu", "restore_pong", "ms", params, ms_between(vm.child.started_at(), pong.at));
        if (run == 0)
            TRY_CTX(guest_command(vm.child, fmt::format("verify {} 1", config.touch_mib), "ok pages="), "qemu clone");
        vm.child.stop(SIGKILL, Millis(0));
    }
    return {};
}

} // namespace brood::bench
