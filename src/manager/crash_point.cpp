#include "manager/crash_point.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>

#include "manager/manager.hpp"

namespace brood::manager {

namespace {

template <typename Step, size_t N>
std::optional<Step> find_step(const std::array<Step, N>& steps, std::string_view name) {
    for (Step step : steps)
        if (to_string(step) == name) return step;
    return std::nullopt;
}

template <typename Step, size_t N>
std::string step_names(const std::array<Step, N>& steps) {
    std::string names;
    for (Step step : steps) names += (names.empty() ? "" : ", ") + std::string(to_string(step));
    return names;
}

[[noreturn]] void die_now() {
    ::kill(::getpid(), SIGKILL);
    ::_exit(137); // not reached
}

} // namespace

Result<CrashPoint> parse_crash_point(const std::string& text) {
    size_t colon = text.find(':');
    std::string kind = text.substr(0, colon);
    std::string step = colon == std::string::npos ? "" : text.substr(colon + 1);
    if (kind == "fork") {
        // reseed is a step too, for forks of agent guests.
        std::array<ForkStep, kForkSteps.size() + 1> all{};
        std::copy(kForkSteps.begin(), kForkSteps.end(), all.begin());
        all.back() = ForkStep::reseed;
        if (auto found = find_step(all, step)) return CrashPoint{*found};
        return fail("crash point \"" + text + "\": the fork steps are " + step_names(all));
    }
    if (kind == "vmm") {
        if (auto found = find_step(kVmmSteps, step)) return CrashPoint{*found};
        return fail("crash point \"" + text + "\": the VMM steps are " + step_names(kVmmSteps));
    }
    return fail("crash point \"" + text + "\": expected fork:<step> or vmm:<step>");
}

std::string to_string(const CrashPoint& point) {
    if (const auto* fork = std::get_if<ForkStep>(&point)) return "fork:" + std::string(to_string(*fork));
    return "vmm:" + std::string(to_string(std::get<VmmStep>(point)));
}

void crash_at(ManagerConfig& config, const CrashPoint& point) {
    if (const auto* fork = std::get_if<ForkStep>(&point)) {
        ForkStep at = *fork;
        config.fork_fault = [at](ForkStep step, const std::string&) -> Result<void> {
            if (step == at) die_now();
            return {};
        };
        return;
    }
    VmmStep at = std::get<VmmStep>(point);
    config.vmm_fault = [at](VmmStep step, const std::string&, pid_t) {
        if (step == at) die_now();
    };
}

} // namespace brood::manager
