// bench_boot: brood-vmm vs QEMU microvm booting the same test guest.
// Per run: wall time from just before posix_spawn to the guest's first line
// ("brood-guest: boot") and to its ready line, read from the VMM's stdout
// pipe; then, once the guest is ready, the VMM's memory from /proc/PID/smaps.
#include <signal.h>

#include <CLI/CLI.hpp>

#include "support/child.hpp"
#include "support/environment.hpp"
#include "support/proc_memory.hpp"
#include "support/report.hpp"
#include "support/subjects.hpp"

namespace {

using namespace brood;
using namespace brood::bench;

constexpr double kKibPerMib = 1024.0;

struct Subject {
    std::string name;
    std::vector<std::string> command;
    bool powers_off; // brood-vmm exits on the guest's poweroff; QEMU microvm does not
};

Result<void> run_once(const Subject& subject, const VmShape& shape, const ScratchDir& scratch, Reporter& out) {
    SpawnOptions options;
    options.stderr_path = scratch / (subject.name + ".stderr");
    auto vm = TRY(Child::spawn(subject.command, options));
    auto deadline = deadline_in(Millis(30'000));
    auto first = TRY_CTX(vm.out().wait_for("brood-guest: boot", deadline), subject.name);
    auto ready = TRY_CTX(vm.out().wait_for("brood-guest ready", deadline), subject.name);
    auto memory = TRY_CTX(read_vmm_memory(vm.pid(), shape.memory_bytes()), subject.name);

    nlohmann::json params{{"memory_mib", shape.memory_mib}, {"vcpus", shape.vcpus}};
    out.add(subject.name, "first_output", "ms", params, ms_between(vm.started_at(), first.at));
    out.add(subject.name, "ready", "ms", params, ms_between(vm.started_at(), ready.at));
    out.add(subject.name, "own_memory", "MiB", params, memory.own_rss_kib() / kKibPerMib);
    out.add(subject.name, "own_pss", "MiB", params, memory.own_pss_kib() / kKibPerMib);
    out.add(subject.name, "rss", "MiB", params, memory.total.rss_kib / kKibPerMib);
    out.add(subject.name, "pss", "MiB", params, memory.total.pss_kib / kKibPerMib);
    out.add(subject.name, "guest_rss", "MiB", params, memory.guest.rss_kib / kKibPerMib);

    if (subject.powers_off && vm.send("poweroff\n") && vm.wait_exit(deadline_in(Millis(2000)))) return {};
    vm.stop(SIGTERM, Millis(2000));
    return {};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_boot: boot time and VMM memory, brood-vmm vs QEMU microvm (JSON lines on stdout)"};
    unsigned runs = 15;
    VmShape shape;
    bool no_qemu = false;
    app.add_option("--runs", runs, "Boots per subject")->check(CLI::PositiveNumber);
    app.add_option("--memory-mib", shape.memory_mib, "Guest memory");
    app.add_flag("--no-qemu", no_qemu, "Measure brood-vmm only");
    CLI11_PARSE(app, argc, argv);

    if (!ready_to_run("bench_boot")) return 0;
    note_host_load("bench_boot");
    auto scratch = ScratchDir::create("boot");
    if (!scratch) {
        note("bench_boot: {}", scratch.error().message());
        return 1;
    }
    std::vector<Subject> subjects{{"brood-vmm", brood_boot_command(shape), true}};
    auto qemu = no_qemu ? std::nullopt : find_qemu();
    if (qemu) subjects.push_back({"qemu", qemu_command(*qemu, shape), false});
    else if (!no_qemu) note("bench_boot: qemu-system-x86_64 not found: measuring brood-vmm alone");

    Reporter out("boot");
    for (unsigned i = 0; i < runs; ++i) {
        note("bench_boot: run {}/{}", i + 1, runs);
        // Alternate who goes first so neither always boots on a quieter host.
        for (size_t k = 0; k < subjects.size(); ++k) {
            const auto& subject = subjects[(k + i) % subjects.size()];
            if (auto ok = run_once(subject, shape, *scratch, out); !ok) {
                note("bench_boot: {}", ok.error().message());
                return 1;
            }
        }
    }
    out.flush();
    note_host_load("bench_boot");
    return 0;
}
