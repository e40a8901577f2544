#include "cli/agent_commands.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/api_client.hpp"
#include "common/read_file.hpp"

namespace brood::cli {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A timed-out command exits like timeout(1) makes it.
constexpr int kCommandTimedOut = 124;
constexpr size_t kMaxStdin = 1024 * 1024;
constexpr size_t kMaxFile = 4 * 1024 * 1024;

struct ExecArgs {
    std::string instance;
    std::vector<std::string> command;
    std::vector<std::string> env;
    std::string cwd;
    int timeout_ms = 30'000;
    bool stdin_too = false;
};

void write_all(FILE* out, const std::string& data) {
    std::fwrite(data.data(), 1, data.size(), out);
    std::fflush(out);
}

int exec(Context& c, const ExecArgs& a) {
    json body{{"cmd", a.command}, {"timeout_ms", a.timeout_ms}};
    for (const auto& kv : a.env) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            std::fprintf(stderr, "brood: --env takes NAME=VALUE, not \"%s\"\n", kv.c_str());
            return kUsage;
        }
        body["env"][kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!a.cwd.empty()) body["cwd"] = a.cwd;
    if (a.stdin_too) {
        std::string in;
        char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0 && in.size() <= kMaxStdin) in.append(buf, n);
        if (in.size() > kMaxStdin) {
            std::fprintf(stderr, "brood: stdin is over the limit of %zu bytes\n", kMaxStdin);
            return kBadRequest;
        }
        body["stdin"] = in;
    }
    Answer answer;
    int code = ApiClient(c.socket, c.token)
                   .call("POST", "/instances/" + a.instance + "/exec", &body, answer, a.timeout_ms + 30'000);
    if (code != kOk) return code;
    if (c.json_output) {
        std::cout << answer.body.dump(2) << "\n";
    } else {
        write_all(stdout, answer.body.value("stdout", ""));
        write_all(stderr, answer.body.value("stderr", ""));
    }
    for (const char* stream : {"stdout", "stderr"})
        if (answer.body.value(std::string(stream) + "_truncated", false))
            std::fprintf(stderr, "brood: the command's %s was cut at 1 MiB\n", stream);
    if (answer.body.value("timed_out", false)) {
        std::fprintf(stderr, "brood: the command timed out after %d ms and was killed\n", a.timeout_ms);
        return kCommandTimedOut;
    }
    return answer.body.value("exit_code", 1);
}

// "NAME:PATH" names a file in an instance; a local path may hold ':' only
// after a '/' ("./a:b").
bool split_remote(const std::string& arg, std::string& instance, std::string& path) {
    size_t colon = arg.find(':');
    if (colon == std::string::npos || colon == 0 || arg.substr(0, colon).find('/') != std::string::npos) return false;
    instance = arg.substr(0, colon);
    path = arg.substr(colon + 1);
    return true;
}

int upload(Context& c, const std::string& local, const std::string& instance, std::string path) {
    struct stat st {};
    if (::stat(local.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        std::fprintf(stderr, "brood: %s is not a regular file\n", local.c_str());
        return kBadRequest;
    }
    if (static_cast<size_t>(st.st_size) > kMaxFile) {
        std::fprintf(stderr, "brood: %s is over the limit of %zu bytes\n", local.c_str(), kMaxFile);
        return kBadRequest;
    }
    auto data = read_file(local, kMaxFile + 1);
    if (!data) {
        std::fprintf(stderr, "brood: %s\n", data.error().message().c_str());
        return kBadRequest;
    }
    if (!path.empty() && path.back() == '/') path += fs::path(local).filename().string();
    char mode[8];
    std::snprintf(mode, sizeof mode, "%o", st.st_mode & 0777);
    Answer answer;
    return ApiClient(c.socket, c.token)
        .call_bytes("PUT", client::guest_file_path(instance, path) + "&mode=" + mode, *data, answer);
}

int download(Context& c, const std::string& instance, const std::string& path, std::string local) {
    Answer answer;
    int code = ApiClient(c.socket, c.token).call_bytes("GET", client::guest_file_path(instance, path), "", answer);
    if (code != kOk) return code;
    std::error_code ec;
    if (fs::is_directory(local, ec)) local = (fs::path(local) / fs::path(path).filename()).string();
    if (local == "-") {
        write_all(stdout, answer.text);
        return kOk;
    }
    // Beside the target, then renamed over it: no half-written file.
    std::string tmp = local + ".brood-cp-" + std::to_string(::getpid());
    FILE* out = std::fopen(tmp.c_str(), "wbe");
    bool ok = out && std::fwrite(answer.text.data(), 1, answer.text.size(), out) == answer.text.size();
    ok = out && std::fclose(out) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), local.c_str()) != 0) {
        std::perror(("brood: write " + local).c_str());
        ::unlink(tmp.c_str());
        return kInternal;
    }
    return kOk;
}

int cp(Context& c, const std::string& from, const std::string& to) {
    std::string instance, path;
    if (split_remote(from, instance, path) && !split_remote(to, instance, path)) {
        split_remote(from, instance, path);
        return download(c, instance, path, to);
    }
    if (!split_remote(from, instance, path) && split_remote(to, instance, path)) return upload(c, from, instance, path);
    std::fprintf(stderr, "brood: cp needs one LOCAL path and one NAME:PATH in the guest\n");
    return kUsage;
}

} // namespace

void add_agent_commands(CLI::App& app, Context& context) {
    auto args = std::make_shared<ExecArgs>();
    ExecArgs& exec_args = *args;
    auto* exec_cmd = app.add_subcommand(
        "exec", "run a command in an instance through its guest agent; exits with the command's exit code");
    exec_cmd->add_option("instance", exec_args.instance, "id or name")->required();
    exec_cmd->add_option("command", exec_args.command, "the command and its arguments (after --; no shell)")
        ->required();
    exec_cmd->add_option("--env,-e", exec_args.env, "NAME=VALUE for the command's environment (repeatable)");
    exec_cmd->add_option("--cwd,-w", exec_args.cwd, "working directory in the guest");
    exec_cmd->add_option("--timeout-ms,-t", exec_args.timeout_ms, "kill the command after this long")
        ->check(CLI::Range(1, 300'000))
        ->capture_default_str();
    exec_cmd->add_flag("--stdin,-i", exec_args.stdin_too, "send this process's stdin to the command");
    exec_cmd->callback([&context, args] { context.result = exec(context, *args); });

    auto ends = std::make_shared<std::pair<std::string, std::string>>();
    auto& [from, to] = *ends;
    auto* cp_cmd = app.add_subcommand("cp", "copy a file into an instance (LOCAL NAME:PATH) or out of it (NAME:PATH LOCAL)");
    cp_cmd->add_option("from", from, "source: LOCAL or NAME:PATH")->required();
    cp_cmd->add_option("to", to, "destination: NAME:PATH (a trailing / keeps the name) or LOCAL (- for stdout)")
        ->required();
    cp_cmd->callback([&context, ends] { context.result = cp(context, ends->first, ends->second); });
}

} // namespace brood::cli
