#include "manager/agent_ops.hpp"

#include <sys/random.h>

#include <fmt/format.h>

#include "manager/agent_client.hpp"

namespace brood::manager {

namespace {

using nlohmann::json;

// Time the agent gets beyond a command's own timeout to answer.
constexpr int kExecAnswerSlackMs = 5'000;

OpError transport_error(const std::string& name, const Error& e) {
    switch (e.errno_value()) {
    case ETIMEDOUT: return OpError(ErrorKind::timeout, "agent_timeout", "instance " + name + ": " + e.message());
    case ECONNREFUSED:
    case ECONNRESET:
        return OpError(ErrorKind::agent_unreachable, "agent_unreachable", "instance " + name + ": " + e.message());
    default:
        return OpError(ErrorKind::agent_unreachable, "agent_error",
                       "instance " + name + ": the guest agent's answer is not understood: " + e.message());
    }
}

// An {"ok": false} answer: the agent's code picks the kind.
OpError refused(const std::string& name, const json& h) {
    std::string code = h.value("code", "failed");
    std::string message = "instance " + name + ": " + h.value("error", std::string("the guest agent refused"));
    if (code == "bad_request") return OpError(ErrorKind::bad_request, "bad_request", message);
    if (code == "not_found") return OpError(ErrorKind::not_found, "not_found", message);
    if (code == "too_large") return OpError(ErrorKind::too_large, "too_large", message);
    return OpError(ErrorKind::agent_unreachable, "agent_error", message);
}

bool flag(const json& h, const char* key) { return h.contains(key) && h[key].is_boolean() && h[key].get<bool>(); }

size_t length(const json& h, const char* key) {
    return h.contains(key) && h[key].is_number_unsigned() ? h[key].get<size_t>() : 0;
}

} // namespace

OpResult<agent::Frame> AgentOps::call(const Instance& instance, const agent::Frame& frame,
                                         int answer_timeout_ms) const {
    InstanceView view = view_of(instance, _state.layout);
    const std::string& name = view.record.name;
    if (view.state != State::running)
        return wrong_state("instance " + name + " is " + std::string(to_string(view.state)) +
                           "; the guest agent needs it Running");
    AgentTimeouts timeouts{_state.config.agent_connect_timeout_ms, answer_timeout_ms};
    auto answer = agent_call(_state.layout.vsock_socket(instance.id), frame, timeouts);
    if (!answer) return tl::unexpected(transport_error(name, answer.error()));
    if (!answer->header["ok"].get<bool>()) return tl::unexpected(refused(name, answer->header));
    return std::move(*answer);
}

OpResult<ExecOutcome> AgentOps::exec(const Instance& instance, const ExecSpec& spec) const {
    if (spec.cmd.empty()) return bad_request("cmd must name a program");
    if (spec.timeout_ms < 1 || spec.timeout_ms > agent::kMaxExecTimeoutMs)
        return bad_request("timeout_ms must be between 1 and " + std::to_string(agent::kMaxExecTimeoutMs));
    if (spec.stdin_data.size() > agent::kMaxStdin)
        return op_fail(ErrorKind::too_large, "too_large",
                       "stdin is over the limit of " + std::to_string(agent::kMaxStdin) + " bytes");
    agent::Frame request;
    request.header = {{"op", "exec"}, {"cmd", spec.cmd}, {"timeout_ms", spec.timeout_ms}};
    if (!spec.env.empty()) request.header["env"] = spec.env;
    if (!spec.cwd.empty()) request.header["cwd"] = spec.cwd;
    request.payload = spec.stdin_data;
    agent::Frame answer = TRY(call(instance, request, spec.timeout_ms + kExecAnswerSlackMs));
    const json& h = answer.header;
    size_t out_len = length(h, "stdout_len");
    if (!h.contains("exit_code") || !h["exit_code"].is_number_integer() || out_len > answer.payload.size() ||
        answer.payload.size() - out_len != length(h, "stderr_len"))
        return op_fail(ErrorKind::agent_unreachable, "agent_error",
                       "instance " + view_of(instance, _state.layout).record.name +
                           ": the guest agent's exec answer is malformed");
    ExecOutcome out;
    out.exit_code = h["exit_code"].get<int>();
    out.signal = h.contains("signal") && h["signal"].is_number_integer() ? h["signal"].get<int>() : 0;
    out.timed_out = flag(h, "timed_out");
    out.stdout_truncated = flag(h, "stdout_truncated");
    out.stderr_truncated = flag(h, "stderr_truncated");
    out.stdout_data = answer.payload.substr(0, out_len);
    out.stderr_data = answer.payload.substr(out_len);
    return out;
}

OpResult<size_t> AgentOps::write_file(const Instance& instance, const std::string& path, unsigned mode,
                                      const std::string& data) const {
    if (path.empty() || path[0] != '/') return bad_request("path must be absolute");
    if (mode > 07777) return bad_request("mode must be between 0 and 07777");
    if (data.size() > agent::kMaxFile)
        return op_fail(ErrorKind::too_large, "too_large",
                       "the file is over the limit of " + std::to_string(agent::kMaxFile) + " bytes");
    agent::Frame request;
    request.header = {{"op", "write_file"}, {"path", path}, {"mode", mode}};
    request.payload = data;
    TRY(call(instance, request, _state.config.agent_answer_timeout_ms));
    return data.size();
}

OpResult<std::string> AgentOps::read_file(const Instance& instance, const std::string& path) const {
    if (path.empty() || path[0] != '/') return bad_request("path must be absolute");
    agent::Frame request;
    request.header = {{"op", "read_file"}, {"path", path}, {"max_bytes", agent::kMaxFile}};
    agent::Frame answer = TRY(call(instance, request, _state.config.agent_answer_timeout_ms));
    return std::move(answer.payload);
}

OpResult<void> AgentOps::give_fresh_entropy(const Instance& instance) const {
    agent::Frame request;
    request.header = {{"op", "identity"}};
    // A fork's NIC has its own MAC from the start; the guest's interface
    // still carries the source's MAC and address until the agent sets them.
    InstanceRecord record = view_of(instance, _state.layout).record;
    if (!record.tap.empty()) {
        request.header["mac"] = record.mac;
        request.header["ip"] = fmt::format("{}/{}", record.ip, _network.subnet().prefix_len);
        request.header["gateway"] = format_ipv4(_network.subnet().gateway());
    }
    request.payload.resize(64);
    size_t got = 0;
    while (got < request.payload.size()) {
        ssize_t n = ::getrandom(request.payload.data() + got, request.payload.size() - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::from_errno("getrandom"));
        got += static_cast<size_t>(n);
    }
    auto answer = call(instance, request, _state.config.agent_answer_timeout_ms);
    if (!answer) {
        OpError e = answer.error();
        e.message = "give the fork fresh entropy and its network identity through its guest agent: " + e.message;
        return tl::unexpected(e);
    }
    return {};
}

} // namespace brood::manager
