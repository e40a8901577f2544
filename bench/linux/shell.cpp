#include <algorithm>
#include <optional>
#include <thread>

#include "linux/linux.hpp"
#include "support/proc_memory.hpp"

namespace brood::bench::linux_guest {

Result<Clock::time_point> shell_answers(Child& vm, Clock::time_point deadline) {
    // The echoed command reads "bench-$((40+2))"; only the answer has "bench-42".
    TRY(vm.send("echo bench-$((40+2))\n"));
    return TRY_CTX(vm.out().wait_for("bench-42", deadline), vm.name() + ": " + vm.stderr_tail()).at;
}

Result<double> pss_per_process_mib(const std::vector<Child>& vms, uint64_t guest_bytes) {
    if (vms.empty()) return fail("no processes to measure");
    std::this_thread::sleep_for(Millis(2000)); // let the guests go idle
    double kib = 0, guest_kib = 0;
    for (const auto& vm : vms) {
        auto memory = TRY_CTX(read_vmm_memory(vm.pid(), guest_bytes), vm.name());
        kib += memory.total.pss_kib;
        guest_kib += memory.guest.pss_kib;
    }
    const double n = static_cast<double>(vms.size());
    note("bench_linux: {}: Pss per process {:.2f} MiB, of which guest RAM {:.2f} MiB", vms.front().name(),
         kib / n / 1024.0, guest_kib / n / 1024.0);
    return kib / n / 1024.0;
}

Result<double> all_answering(std::vector<Child>& vms, Clock::time_point t0,
                             const std::function<Result<void>(size_t)>& resume, Clock::time_point deadline) {
    std::vector<double> answered(vms.size(), 0);
    std::vector<std::optional<Error>> errors(vms.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < vms.size(); ++i)
        threads.emplace_back([&, i] {
            auto running = resume(i);
            if (!running) {
                errors[i] = running.error();
                return;
            }
            auto at = shell_answers(vms[i], deadline);
            if (at) answered[i] = ms_between(t0, *at);
            else errors[i] = at.error();
        });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
        if (e) return fail(std::move(*e));
    return *std::max_element(answered.begin(), answered.end());
}

} // namespace brood::bench::linux_guest
