#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <thread>

#include "linux/linux.hpp"
#include "support/proc_memory.hpp"

namespace brood::bench::linux_guest {

Result<Clock::time_point> shell_answers(Child& vm, Clock::time_point deadline) {
    // The echoed command reads "bench-$((40+2))"; only the answer has "bench-42".
    TRY(vm.send("echo bench-$((40+2))\n"));
    return TRY_CTX(vm.out().wait_for("bench-42", deadline), vm.name() + ": " + vm.stderr_tail()).at;
}

Result<double> guest_uptime_ms(const std::string& ready_line) {
    constexpr std::string_view key = "uptime=";
    const auto at = ready_line.find(key);
    if (at == std::string::npos) return fail("no uptime in the ready line '" + ready_line + "'");
    const char* first = ready_line.c_str() + at + key.size();
    char* end = nullptr;
    const double seconds = std::strtod(first, &end);
    if (end == first || !(seconds >= 0)) return fail("no uptime in the ready line '" + ready_line + "'");
    return seconds * 1000.0;
}

Result<PssPerProcess> pss_per_process(const std::vector<Child>& vms, uint64_t guest_bytes) {
    if (vms.empty()) return fail("no processes to measure");
    std::this_thread::sleep_for(Millis(2000)); // let the guests go idle
    double kib = 0, guest_kib = 0;
    for (const auto& vm : vms) {
        auto memory = TRY_CTX(read_vmm_memory(vm.pid(), guest_bytes), vm.name());
        kib += memory.total.pss_kib;
        guest_kib += memory.guest.pss_kib;
    }
    const double n = static_cast<double>(vms.size());
    PssPerProcess pss{kib / n / 1024.0, guest_kib / n / 1024.0};
    note("bench_linux: {}: Pss per process {:.2f} MiB, of which guest RAM {:.2f} MiB", vms.front().name(),
         pss.total_mib, pss.guest_mib);
    return pss;
}

Result<FanOut> all_answering(std::vector<Child>& vms, Clock::time_point t0,
                             const std::function<Result<void>(size_t)>& resume, Clock::time_point deadline) {
    std::vector<double> running(vms.size(), 0), answered(vms.size(), 0);
    std::vector<std::optional<Error>> errors(vms.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < vms.size(); ++i)
        threads.emplace_back([&, i] {
            auto ran = resume(i);
            if (!ran) {
                errors[i] = ran.error();
                return;
            }
            running[i] = ms_between(t0, Clock::now());
            auto at = shell_answers(vms[i], deadline);
            if (at) answered[i] = ms_between(t0, *at);
            else errors[i] = at.error();
        });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
        if (e) return fail(std::move(*e));
    return FanOut{*std::max_element(running.begin(), running.end()),
                  *std::max_element(answered.begin(), answered.end())};
}

} // namespace brood::bench::linux_guest
