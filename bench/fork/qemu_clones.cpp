// QEMU at its best in bench_fork, as VM templating uses it: the test guest
// runs with its RAM in a shared memory file (memory-backend-file, share=on),
// writes its memory and is saved with x-ignore-shared (device state only;
// it stays stopped for good). A fan-out of N starts N clones at once, each
// mapping the memory file privately (share=off) and loading the state with
// `-incoming defer` + `migrate-incoming`; then `cont` and `ping`.
#include <signal.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "fork/fork.hpp"
#include "support/qemu_template.hpp"
#include "support/subjects.hpp"

namespace brood::bench::fork {
namespace {

std::vector<std::string> guest_command_line(const Config& config) {
    return qemu_command(*config.qemu, VmShape{config.memory_mib, 1});
}

} // namespace

Result<QemuTemplate> qemu_template(const Config& config, const ScratchDir& scratch) {
    QemuTemplate tpl{scratch / "qemu-template.mem", scratch / "qemu-template.state"};
    std::string qmp_path = scratch / "qemu-template.qmp";
    SpawnOptions options;
    options.stderr_path = scratch / "qemu-template.stderr";
    auto command = qemu_template::with_qmp(
        qemu_template::with_memory_file(guest_command_line(config), config.memory_mib, tpl.memory_path, true),
        qmp_path);
    auto vm = TRY(Child::spawn(command, options));
    auto deadline = deadline_in(config.timeout);
    TRY_CTX(vm.out().wait_for("brood-guest ready", deadline), vm.stderr_tail());
    TRY(guest_command(vm, fmt::format("touch {} 1", config.touch_mib), "touched pages=", Millis(120'000)));
    auto qmp = TRY(Qmp::connect(qmp_path, deadline));
    TRY(qemu_template::save_template(qmp, vm.pid(), tpl.state_path, deadline));
    vm.stop(SIGKILL, Millis(0));
    return tpl;
}

Result<Fanout> qemu_clone_fanout(const QemuTemplate& tpl, unsigned n, unsigned run, const Config& config,
                                 const ScratchDir& scratch, std::vector<Child>& vms) {
    vms.clear();
    vms.reserve(n);
    std::vector<std::string> qmp_paths;
    auto t0 = Clock::now();
    for (unsigned i = 0; i < n; ++i) {
        std::string tag = fmt::format("qemu-clone-{}-{}-{}", n, run, i);
        qmp_paths.push_back(scratch / (tag + ".qmp"));
        SpawnOptions options;
        options.stderr_path = scratch / (tag + ".stderr");
        auto command =
            qemu_template::clone_command(guest_command_line(config), config.memory_mib, tpl.memory_path, qmp_paths.back());
        vms.push_back(TRY(Child::spawn(command, options)));
    }
    Fanout f;
    f.ready_ms.resize(n);
    std::vector<std::optional<Error>> errors(n);
    std::vector<std::thread> threads;
    auto deadline = deadline_in(config.timeout);
    for (unsigned i = 0; i < n; ++i)
        threads.emplace_back([&, i]() {
            auto pong = [&]() -> Result<Clock::time_point> {
                TRY(qemu_template::resume_clone(vms[i], qmp_paths[i], tpl.state_path, deadline));
                return TRY(guest_command(vms[i], "ping", "pong")).at;
            }();
            if (pong) f.ready_ms[i] = ms_between(t0, *pong);
            else errors[i] = pong.error();
        });
    for (auto& t : threads) t.join();
    for (unsigned i = 0; i < n; ++i)
        if (errors[i]) return fail(std::move(*errors[i]).context(fmt::format("QEMU clone {}", i)));
    f.all_ready_ms = *std::max_element(f.ready_ms.begin(), f.ready_ms.end());
    for (auto& vm : vms) f.pids.push_back(vm.pid());
    f.memory_files = {tpl.memory_path, tpl.state_path};
    return f;
}

} // namespace brood::bench::fork
