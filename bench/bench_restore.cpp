// bench_restore: snapshot and restore, brood-vmm (backends copy and file) vs
// QEMU, plain (migration to a file) and at its best (clones of a shared
// memory file, x-ignore-shared), for several guest sizes with the same
// amount of memory touched; then what many VMs restored at once cost the host.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "restore/restore.hpp"

namespace {

using namespace brood;
using namespace brood::bench;

struct Snapshots {
    BroodSnapshot brood;
    std::optional<std::string> qemu;
    std::optional<QemuTemplate> qemu_template;
};

Result<Snapshots> bench_size(const VmShape& shape, const RestoreConfig& config, const ScratchDir& scratch,
                             Reporter& out) {
    Snapshots snaps;
    note("bench_restore: {} MiB: brood-vmm snapshots", shape.memory_mib);
    snaps.brood = TRY_CTX(brood_snapshots(shape, config, scratch, out), "brood-vmm snapshot");
    note("bench_restore: {} MiB: brood-vmm restores (copy, file)", shape.memory_mib);
    TRY_CTX(brood_restores(snaps.brood, shape, config, scratch, out), "brood-vmm restore");
    if (config.qemu) {
        note("bench_restore: {} MiB: QEMU snapshots", shape.memory_mib);
        snaps.qemu = TRY_CTX(qemu_snapshots(shape, config, scratch, out), "QEMU snapshot");
        note("bench_restore: {} MiB: QEMU restores", shape.memory_mib);
        TRY_CTX(qemu_restores(*snaps.qemu, shape, config, scratch, out), "QEMU restore");
        note("bench_restore: {} MiB: QEMU template (shared memory file) and clones", shape.memory_mib);
        snaps.qemu_template = TRY_CTX(qemu_template_snapshot(shape, config, scratch, out), "QEMU template");
        TRY_CTX(qemu_clone_restores(*snaps.qemu_template, shape, config, scratch, out), "QEMU clone");
    }
    return snaps;
}

void remove_files(const Snapshots& snaps) {
    ::unlink(snaps.brood.state_path.c_str());
    ::unlink(snaps.brood.memory_path.c_str());
    if (snaps.qemu) ::unlink(snaps.qemu->c_str());
    if (snaps.qemu_template) {
        ::unlink(snaps.qemu_template->memory_path.c_str());
        ::unlink(snaps.qemu_template->state_path.c_str());
    }
}

Result<void> run(const RestoreConfig& config, Reporter& out) {
    auto scratch = TRY(ScratchDir::create("restore"));
    std::optional<Snapshots> for_density;
    VmShape density_shape{config.density_memory_mib, 1};
    for (uint64_t mib : config.sizes_mib) {
        auto snaps = TRY(bench_size(VmShape{mib, 1}, config, scratch, out));
        out.flush();
        if (mib == config.density_memory_mib && !for_density) for_density = snaps;
        else remove_files(snaps);
    }
    if (config.density_vms == 0) return {};
    if (!for_density) { // a size of its own: snapshot it without timing anything
        RestoreConfig once = config;
        once.snapshots = 1;
        Reporter discard("unused");
        for_density = Snapshots{TRY(brood_snapshots(density_shape, once, scratch, discard)), std::nullopt,
                                std::nullopt};
        if (config.qemu) {
            for_density->qemu = TRY(qemu_snapshots(density_shape, once, scratch, discard));
            for_density->qemu_template = TRY(qemu_template_snapshot(density_shape, once, scratch, discard));
        }
    }
    TRY(density(DensitySources{for_density->brood, for_density->qemu, for_density->qemu_template}, density_shape,
                config, scratch, out));
    out.flush();
    return {};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_restore: snapshot/restore latency and density, brood-vmm vs QEMU (JSON lines on stdout)"};
    RestoreConfig config;
    bool no_qemu = false;
    app.add_option("--sizes", config.sizes_mib, "Guest memory sizes in MiB")->delimiter(',');
    app.add_option("--touch-mib", config.touch_mib, "Memory the guest writes before the snapshot");
    app.add_option("--snapshots", config.snapshots, "Snapshots per subject and size")->check(CLI::PositiveNumber);
    app.add_option("--runs", config.runs, "Restores per subject, backend and size")->check(CLI::PositiveNumber);
    app.add_option("--density-vms", config.density_vms, "VMs restored at once (0: skip density)");
    app.add_option("--density-memory-mib", config.density_memory_mib, "Guest memory of the density snapshot");
    unsigned timeout_s = 60;
    app.add_option("--timeout-s", timeout_s, "Longest wait for any one step")->check(CLI::PositiveNumber);
    app.add_flag("--no-qemu", no_qemu, "Measure brood-vmm only");
    CLI11_PARSE(app, argc, argv);
    config.timeout = Millis(timeout_s * 1000);

    if (!ready_to_run("bench_restore")) return 0;
    note_host_load("bench_restore");
    if (!no_qemu) {
        config.qemu = find_qemu();
        if (!config.qemu) note("bench_restore: qemu-system-x86_64 not found: measuring brood-vmm alone");
    }
    Reporter out("restore");
    if (auto ok = run(config, out); !ok) {
        note("bench_restore: {}", ok.error().message());
        return 1;
    }
    note_host_load("bench_restore");
    return 0;
}
