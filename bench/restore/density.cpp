// Density: many VMs restored at once from one snapshot, idle and after each
// read back the memory it had touched. What they cost the host is counted as
// in every bench: the processes' Pss plus the page cache of the files they
// were restored from, each page once (support/proc_memory.hpp).
#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "restore/restore.hpp"
#include "support/proc_memory.hpp"

namespace brood::bench {
namespace {

constexpr double kKibPerMib = 1024.0;

Result<void> record_memory(const std::vector<pid_t>& pids, const std::vector<std::string>& files,
                           const std::string& subject, const nlohmann::json& params, Reporter& out) {
    for (pid_t pid : pids) {
        auto usage = TRY(read_rollup(pid));
        out.add(subject, "pss_per_vm", "MiB", params, usage.pss_kib / kKibPerMib);
        out.add(subject, "rss_per_vm", "MiB", params, usage.rss_kib / kKibPerMib);
    }
    auto host = TRY(read_host_memory(pids, files));
    out.add(subject, "pss_total", "MiB", params, host.pss_mib);
    out.add(subject, "page_cache", "MiB", params, host.page_cache_mib);
    out.add(subject, "host_memory", "MiB", params, host.total_mib());
    out.add(subject, "host_memory_per_vm", "MiB", params, host.total_mib() / static_cast<double>(pids.size()));
    return {};
}

// Idle figures, then every guest reads its touched memory and figures again.
Result<void> measure(std::vector<Child*> vms, const std::vector<std::string>& files, const std::string& subject,
                     nlohmann::json params, const RestoreConfig& config, Reporter& out) {
    std::vector<pid_t> pids;
    for (auto* vm : vms) pids.push_back(vm->pid());
    params["phase"] = "idle";
    TRY(record_memory(pids, files, subject, params, out));
    for (auto* vm : vms) TRY(vm->send(fmt::format("verify {} 1\n", config.touch_mib)));
    auto deadline = deadline_in(config.timeout);
    for (auto* vm : vms) TRY_CTX(guest_answer(*vm, "ok pages=", deadline), subject + " verify");
    params["phase"] = "after_verify";
    return record_memory(pids, files, subject, params, out);
}

nlohmann::json density_params(const VmShape& shape, const RestoreConfig& config, const std::string& backend) {
    auto params = size_params(shape, config);
    params["backend"] = backend;
    params["vms"] = config.density_vms;
    return params;
}

Result<void> brood_density(const BroodSnapshot& snapshot, const std::string& backend, const VmShape& shape,
                           const RestoreConfig& config, const ScratchDir& scratch, Reporter& out) {
    std::vector<Child> vms;
    for (unsigned i = 0; i < config.density_vms; ++i)
        vms.push_back(TRY(spawn_brood_restore(snapshot, backend, scratch, fmt::format("dense-{}-{}", backend, i))));
    auto deadline = deadline_in(config.timeout);
    Clock::time_point last_pong{};
    for (auto& vm : vms) {
        TRY(vm.wait_ready(deadline));
        last_pong = std::max(last_pong, TRY(guest_command(vm, "ping", "pong")).at);
    }
    auto params = density_params(shape, config, backend);
    out.add("brood-vmm", "fanout_time", "ms", params, ms_between(vms.front().started_at(), last_pong));
    std::vector<Child*> children;
    for (auto& vm : vms) children.push_back(&vm);
    return measure(children, {snapshot.memory_path, snapshot.state_path}, "brood-vmm", params, config, out);
}

Result<void> qemu_density(const std::string& migration_file, const VmShape& shape, const RestoreConfig& config,
                          const ScratchDir& scratch, Reporter& out) {
    std::vector<QemuVm> vms;
    for (unsigned i = 0; i < config.density_vms; ++i)
        vms.push_back(TRY(spawn_qemu_restore(migration_file, shape, *config.qemu, scratch, fmt::format("dense-qemu-{}", i))));
    auto deadline = deadline_in(config.timeout);
    Clock::time_point last_pong{};
    for (auto& vm : vms) {
        TRY(qemu_resume(vm, deadline));
        last_pong = std::max(last_pong, TRY(guest_command(vm.child, "ping", "pong")).at);
    }
    auto params = density_params(shape, config, "migration");
    out.add("qemu", "fanout_time", "ms", params, ms_between(vms.front().child.started_at(), last_pong));
    std::vector<Child*> children;
    for (auto& vm : vms) children.push_back(&vm.child);
    return measure(children, {migration_file}, "qemu", params, config, out);
}

Result<void> qemu_clone_density(const QemuTemplate& tpl, const VmShape& shape, const RestoreConfig& config,
                                const ScratchDir& scratch, Reporter& out) {
    std::vector<QemuVm> vms;
    for (unsigned i = 0; i < config.density_vms; ++i)
        vms.push_back(TRY(spawn_qemu_clone(tpl, shape, *config.qemu, scratch, fmt::format("dense-clone-{}", i))));
    auto deadline = deadline_in(config.timeout);
    Clock::time_point last_pong{};
    for (auto& vm : vms) {
        TRY(qemu_clone_resume(vm, tpl, deadline));
        last_pong = std::max(last_pong, TRY(guest_command(vm.child, "ping", "pong")).at);
    }
    auto params = density_params(shape, config, "shared-file");
    out.add("qemu", "fanout_time", "ms", params, ms_between(vms.front().child.started_at(), last_pong));
    std::vector<Child*> children;
    for (auto& vm : vms) children.push_back(&vm.child);
    return measure(children, {tpl.memory_path, tpl.state_path}, "qemu", params, config, out);
}

} // namespace

Result<void> density(const DensitySources& sources, const VmShape& shape, const RestoreConfig& config,
                     const ScratchDir& scratch, Reporter& out) {
    for (const char* backend : {"copy", "file"}) {
        note("bench_restore: density, {} brood-vmm VMs, backend {}", config.density_vms, backend);
        TRY_CTX(brood_density(sources.brood, backend, shape, config, scratch, out),
                fmt::format("density {}", backend));
    }
    if (sources.qemu_migration) {
        note("bench_restore: density, {} QEMU VMs, plain restores", config.density_vms);
        TRY_CTX(qemu_density(*sources.qemu_migration, shape, config, scratch, out), "density qemu");
    }
    if (sources.qemu_template) {
        note("bench_restore: density, {} QEMU clones of a shared memory file", config.density_vms);
        TRY_CTX(qemu_clone_density(*sources.qemu_template, shape, config, scratch, out), "density qemu clones");
    }
    return {};
}

} // namespace brood::bench
