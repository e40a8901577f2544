#include "agent/handler.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <optional>

#include "agent/exec.hpp"
#include "agent/files.hpp"
#include "agent/identity.hpp"
#include "agent/net_identity.hpp"
#include "common/unique_fd.hpp"

namespace brood::agent {

namespace {

using nlohmann::json;

struct BadRequest {
    std::string message;
};

const json* field(const json& h, const char* key) {
    auto it = h.find(key);
    return it == h.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const json& h, const char* key, bool required) {
    const json* v = field(h, key);
    if (!v) {
        if (required) throw BadRequest{std::string(key) + " is required"};
        return "";
    }
    if (!v->is_string()) throw BadRequest{std::string(key) + " must be a string"};
    return v->get<std::string>();
}

int64_t int_field(const json& h, const char* key, int64_t lo, int64_t hi, int64_t fallback) {
    const json* v = field(h, key);
    if (!v) return fallback;
    if (!v->is_number_integer() || (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) ||
        v->get<int64_t>() < lo || v->get<int64_t>() > hi)
        throw BadRequest{std::string(key) + " must be an integer between " + std::to_string(lo) + " and " +
                         std::to_string(hi)};
    return v->get<int64_t>();
}

std::string absolute_path(const json& h) {
    std::string path = string_field(h, "path", true);
    if (path.empty() || path[0] != '/') throw BadRequest{"path must be absolute"};
    if (path.find('\0') != std::string::npos) throw BadRequest{"path must not contain NUL"};
    return path;
}

// An errno from a failed operation as the answer's code.
Frame failure(const Error& e) {
    switch (e.errno_value()) {
    case ENOENT: case ENOTDIR: return error_frame("not_found", e.message());
    case EFBIG: return error_frame("too_large", e.message());
    case EINVAL: case EISDIR: return error_frame("bad_request", e.message());
    default: return error_frame("failed", e.message());
    }
}

Frame do_exec(const json& h, const std::string& payload) {
    ExecRequest req;
    const json* cmd = field(h, "cmd");
    if (!cmd || !cmd->is_array() || cmd->empty()) throw BadRequest{"cmd must be a non-empty array of strings"};
    for (const auto& a : *cmd) {
        if (!a.is_string()) throw BadRequest{"cmd must be a non-empty array of strings"};
        std::string arg = a.get<std::string>();
        if (arg.find('\0') != std::string::npos) throw BadRequest{"cmd arguments must not contain NUL"};
        req.argv.push_back(std::move(arg));
    }
    if (const json* env = field(h, "env")) {
        if (!env->is_object()) throw BadRequest{"env must be an object of strings"};
        for (const auto& [k, v] : env->items()) {
            if (!v.is_string() || k.empty() || k.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
                throw BadRequest{"env must map names (without '=') to strings"};
            req.env[k] = v.get<std::string>();
        }
    }
    req.cwd = string_field(h, "cwd", false);
    req.timeout_ms = static_cast<int>(int_field(h, "timeout_ms", 1, kMaxExecTimeoutMs, kDefaultExecTimeoutMs));
    if (payload.size() > kMaxStdin) throw BadRequest{"stdin is over the limit of " + std::to_string(kMaxStdin) + " bytes"};
    req.stdin_data = payload;
    req.max_output = kMaxOutput;
    auto result = run_command(req);
    if (!result) return failure(result.error());
    Frame answer;
    answer.header = {{"ok", true},
                     {"exit_code", result->exit_code},
                     {"signal", result->signal},
                     {"timed_out", result->timed_out},
                     {"stdout_len", result->stdout_data.size()},
                     {"stderr_len", result->stderr_data.size()},
                     {"stdout_truncated", result->stdout_truncated},
                     {"stderr_truncated", result->stderr_truncated}};
    answer.payload = std::move(result->stdout_data) + result->stderr_data;
    return answer;
}

Frame do_write_file(const json& h, const std::string& payload) {
    std::string path = absolute_path(h);
    auto mode = static_cast<unsigned>(int_field(h, "mode", 0, 07777, 0644));
    if (payload.size() > kMaxFile) throw BadRequest{"file is over the limit of " + std::to_string(kMaxFile) + " bytes"};
    if (auto written = write_file_atomic(path, payload, mode); !written) return failure(written.error());
    Frame answer;
    answer.header = {{"ok", true}, {"size", payload.size()}};
    return answer;
}

Frame do_read_file(const json& h) {
    std::string path = absolute_path(h);
    auto max = static_cast<size_t>(int_field(h, "max_bytes", 0, kMaxFile, kMaxFile));
    auto data = read_regular_file(path, max);
    if (!data) return failure(data.error());
    Frame answer;
    answer.header = {{"ok", true}, {"size", data->size()}};
    answer.payload = std::move(*data);
    return answer;
}

Result<void> log_line(const std::string& log, std::string line) {
    line.push_back('\n');
    UniqueFd fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!fd) return fail_errno("open " + log);
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        return fail_errno("write " + log);
    return {};
}

Result<void> log_identity(const std::string& log, const std::string& bytes) {
    static const char* hex = "0123456789abcdef";
    std::string line;
    for (unsigned char c : bytes) {
        line.push_back(hex[c >> 4]);
        line.push_back(hex[c & 15]);
    }
    return log_line(log, std::move(line));
}

// The optional network part of identity: mac and ip (CIDR) together,
// gateway optional.
std::optional<NetIdentity> net_identity_of(const json& h) {
    NetIdentity id{string_field(h, "mac", false), string_field(h, "ip", false), string_field(h, "gateway", false)};
    if (id.mac.empty() && id.ip.empty() && id.gateway.empty()) return std::nullopt;
    if (id.mac.empty() || id.ip.empty()) throw BadRequest{"identity takes mac and ip together"};
    if (auto ok = check_net_identity(id); !ok) throw BadRequest{ok.error().message()};
    return id;
}

Frame do_identity(const json& header, const std::string& payload, const AgentOptions& options) {
    if (payload.empty() || payload.size() > kMaxEntropy)
        throw BadRequest{"identity needs 1 to " + std::to_string(kMaxEntropy) + " random bytes"};
    auto net = net_identity_of(header);
    auto done = options.identity_log.empty() ? add_entropy_and_reseed(payload)
                                             : log_identity(options.identity_log, payload);
    if (!done) return error_frame("failed", done.error().message());
    Frame answer;
    answer.header = {{"ok", true}, {"entropy_bytes", payload.size()}};
    if (net) {
        if (!options.identity_log.empty()) {
            // On the host, the test's record of what would be applied.
            std::string line = "net " + net->mac + " " + net->ip + " " + net->gateway;
            if (auto logged = log_line(options.identity_log, line); !logged)
                return error_frame("failed", logged.error().message());
            answer.header["interface"] = "";
        } else {
            auto applied = apply_net_identity(*net);
            if (!applied) return error_frame("failed", "network identity: " + applied.error().message());
            answer.header["interface"] = *applied;
        }
    }
    return answer;
}

} // namespace

Frame handle_request(const Frame& request, const AgentOptions& options) {
    try {
        std::string op = string_field(request.header, "op", true);
        if (op == "exec") return do_exec(request.header, request.payload);
        if (op == "write_file") return do_write_file(request.header, request.payload);
        if (op == "read_file") return do_read_file(request.header);
        if (op == "identity") return do_identity(request.header, request.payload, options);
        if (op == "ping") {
            Frame answer;
            answer.header = {{"ok", true}, {"protocol", 1}};
            return answer;
        }
        return error_frame("bad_request", "unknown op \"" + op + "\"");
    } catch (const BadRequest& bad) {
        return error_frame("bad_request", bad.message);
    } catch (const std::exception& e) { // a JSON type surprise, or out of memory
        return error_frame("failed", e.what());
    }
}

} // namespace brood::agent
