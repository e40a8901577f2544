// broodd's log lines (spdlog's default logger; broodd sends it to stderr):
// one per operation, one per VMM death, one per reconcile decision. Each is
// "event key=value ..." so that a line can be found by its event and keys.
#pragma once

#include <chrono>
#include <string>

#include "manager/op_error.hpp"

namespace brood::manager {

// "op op=start instance=web-1 duration_ms=12.3 result=ok", or
// "... result=error code=vmm_died message=..." (error is null on success).
void log_operation(const std::string& op, const std::string& instance, std::chrono::nanoseconds duration,
                   const OpError* error);
// "vmm_exit instance=web-1 pid=123 state=Failed reason=..."
void log_vmm_exit(const std::string& instance, int pid, const std::string& state, const std::string& reason);
// "reconcile instance=web-1 pending=stop decision=... state=Stopped"
void log_reconcile(const std::string& instance, const std::string& pending, const std::string& decision,
                   const std::string& state);
// Other events: "event key=value ...", `fields` already formatted.
void log_event(const std::string& event, const std::string& fields);

} // namespace brood::manager
