// A named step at which broodd kills itself (SIGKILL), as a power cut or
// kill -9 would end it there: the crash tests start the real daemon with
// --crash-at and check that a restarted daemon finds records, VMMs,
// directories and fork counts in agreement. Not for production use.
//
// Spelling: "fork:<step>" (fork_steps.hpp) or "vmm:<step>" (vmm_steps.hpp),
// for example "fork:publish" or "vmm:standby_snapshot".
#pragma once

#include <string>
#include <variant>

#include "common/result.hpp"
#include "manager/fork_steps.hpp"
#include "manager/vmm_steps.hpp"

namespace brood::manager {

struct ManagerConfig;

using CrashPoint = std::variant<ForkStep, VmmStep>;

[[nodiscard]] Result<CrashPoint> parse_crash_point(const std::string& text);
std::string to_string(const CrashPoint& point);

// Makes the config's fault hooks end this process with SIGKILL when an
// operation reaches `point`.
void crash_at(ManagerConfig& config, const CrashPoint& point);

} // namespace brood::manager
