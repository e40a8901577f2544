#include "manager/op_log.hpp"

#include <spdlog/spdlog.h>

namespace brood::manager {

namespace {

// A value with spaces or quotes is quoted, as logfmt does.
std::string quoted(const std::string& value) {
    if (!value.empty() && value.find_first_of(" \"=\n") == std::string::npos) return value;
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += c == '\n' ? ' ' : c;
    }
    return out + "\"";
}

} // namespace

void log_operation(const std::string& op, const std::string& instance, std::chrono::nanoseconds duration,
                   const OpError* error) {
    double ms = std::chrono::duration<double, std::milli>(duration).count();
    if (!error) {
        spdlog::info("op op={} instance={} duration_ms={:.1f} result=ok", op, quoted(instance), ms);
        return;
    }
    spdlog::warn("op op={} instance={} duration_ms={:.1f} result=error code={} message={}", op, quoted(instance), ms,
                 error->code, quoted(error->message));
}

void log_vmm_exit(const std::string& instance, int pid, const std::string& state, const std::string& reason) {
    spdlog::warn("vmm_exit instance={} pid={} state={} reason={}", quoted(instance), pid, state, quoted(reason));
}

void log_reconcile(const std::string& instance, const std::string& pending, const std::string& decision,
                   const std::string& state) {
    spdlog::info("reconcile instance={} pending={} decision={} state={}", quoted(instance),
                 pending.empty() ? "none" : pending, decision, state);
}

void log_event(const std::string& event, const std::string& fields) { spdlog::info("{} {}", event, fields); }

} // namespace brood::manager
