// brood: the command-line client of broodd. Every verb is one API call.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/agent_commands.hpp"
#include "cli/api_client.hpp"
#include "cli/context.hpp"
#include "cli/fork_commands.hpp"
#include "cli/table.hpp"
#include "cli/terminal_text.hpp"

using namespace brood::cli;
using nlohmann::json;

namespace {

using Global = Context;

struct CreateArgs {
    std::string name, kernel, initrd, cmdline;
    int memory_mib = 128;
    int vcpus = 1;
    bool agent = false;
};

std::string absolute(const std::string& path) {
    if (path.empty()) return path;
    return std::filesystem::absolute(path).lexically_normal().string();
}

json create_body(const CreateArgs& a) {
    json body{{"name", a.name}, {"kernel", absolute(a.kernel)}, {"memory_mib", a.memory_mib}, {"vcpus", a.vcpus}};
    if (!a.initrd.empty()) body["initrd"] = absolute(a.initrd);
    if (!a.cmdline.empty()) body["cmdline"] = a.cmdline;
    if (a.agent) body["agent"] = true;
    return body;
}

void add_create_options(CLI::App* cmd, CreateArgs& a) {
    cmd->add_option("name", a.name, "instance name")->required();
    cmd->add_option("--kernel", a.kernel, "kernel (bzImage or ELF)")->required();
    cmd->add_option("--initrd", a.initrd, "initrd");
    cmd->add_option("--cmdline", a.cmdline, "kernel command line");
    cmd->add_option("--memory-mib,-m", a.memory_mib, "guest memory in MiB")->capture_default_str();
    cmd->add_option("--vcpus,-c", a.vcpus, "vCPUs")->capture_default_str();
    cmd->add_flag("--agent", a.agent, "the guest runs brood-agent: forks get fresh entropy through it");
}

std::string path_of(const std::string& ref, const std::string& suffix = "") {
    return "/instances/" + ref + suffix;
}

class Cli final {
public:
    explicit Cli(Global& g) : _g(g) {}

    ApiClient client() const { return ApiClient(_g.socket, _g.token); }

    // Prints one instance: its id (humans) or the object (--json).
    int print_instance(int code, const Answer& a) const {
        if (code != kOk) return code;
        if (_g.json_output)
            std::cout << a.body.dump(2) << "\n";
        else
            std::cout << instances_table(json::array({a.body}));
        return kOk;
    }

    int create(const CreateArgs& args, bool then_start) {
        json body = create_body(args);
        Answer a;
        int code = client().call("POST", "/instances", &body, a);
        if (code != kOk || !then_start) return print_instance(code, a);
        Answer started;
        code = client().call("POST", path_of(a.body.value("id", ""), "/start"), nullptr, started);
        return print_instance(code, started);
    }

    int ps() {
        Answer a;
        int code = client().call("GET", "/instances", nullptr, a);
        if (code != kOk) return code;
        std::cout << (_g.json_output ? a.body.dump(2) + "\n" : instances_table(a.body));
        return kOk;
    }

    int inspect(const std::string& ref) {
        Answer a;
        int code = client().call("GET", path_of(ref), nullptr, a);
        if (code == kOk) std::cout << a.body.dump(2) << "\n";
        return code;
    }

    int action(const std::string& ref, const std::string& verb, const json* body = nullptr) {
        Answer a;
        return print_instance(client().call("POST", path_of(ref, "/" + verb), body, a), a);
    }

    int remove(const std::vector<std::string>& refs) {
        int worst = kOk;
        for (const auto& ref : refs) {
            Answer a;
            int code = client().call("DELETE", path_of(ref), nullptr, a);
            if (code == kOk && !_g.json_output) std::cout << ref << "\n";
            if (code != kOk) worst = code;
        }
        return worst;
    }

    // Guest bytes are escaped (see terminal_text.hpp) unless `raw`.
    int logs(const std::string& ref, bool follow, int tail, bool raw) {
        std::string path = path_of(ref, "/logs") + "?follow=" + (follow ? "true" : "false");
        if (tail >= 0) path += "&tail=" + std::to_string(tail);
        TerminalEscaper escaper;
        int code = client().stream(path, [&](std::string_view data) {
            std::string safe = raw ? std::string(data) : escaper.feed(data);
            std::fwrite(safe.data(), 1, safe.size(), stdout);
            std::fflush(stdout);
            return true;
        });
        if (!raw) std::fputs(escaper.finish().c_str(), stdout);
        return code;
    }

    int console(const std::string& ref, const std::string& input, const std::string& until, int timeout_ms,
                bool raw) {
        json body{{"input", input}, {"until", until}, {"timeout_ms", timeout_ms}};
        Answer a;
        int code = client().call("POST", path_of(ref, "/console"), &body, a, timeout_ms + 30'000);
        if (code == kOk || code == kTimeout) {
            if (_g.json_output && a.body.is_object())
                std::cout << a.body.dump(2) << "\n";
            else if (a.body.is_object())
                std::cout << (raw ? a.body.value("output", "") : escape_for_terminal(a.body.value("output", "")));
        }
        return code;
    }

private:
    Global& _g;
};

} // namespace

int main(int argc, char** argv) {
    Global g;
    const char* env_socket = std::getenv("BROOD_SOCKET");
    g.socket = env_socket && *env_socket ? env_socket : "/run/brood/brood.sock";
    if (const char* t = std::getenv("BROOD_TOKEN")) g.token = t;

    CLI::App app{"brood: manage brood micro-VMs through broodd"};
    app.require_subcommand(1);
    app.add_option("--socket,-s", g.socket, "broodd socket path, or tcp://HOST:PORT (env BROOD_SOCKET)")
        ->capture_default_str();
    app.add_option("--token", g.token, "bearer token for tcp:// (env BROOD_TOKEN)");
    app.add_flag("--json", g.json_output, "print JSON instead of tables");

    Cli cli(g);
    int& result = g.result;
    CreateArgs create_args;
    auto* create = app.add_subcommand("create", "create an instance (does not start it)");
    add_create_options(create, create_args);
    create->callback([&] { result = cli.create(create_args, false); });
    CreateArgs run_args;
    auto* run = app.add_subcommand("run", "create an instance and start it");
    add_create_options(run, run_args);
    run->callback([&] { result = cli.create(run_args, true); });

    app.add_subcommand("ps", "list instances")->callback([&] { result = cli.ps(); });

    std::string ref;
    auto* inspect = app.add_subcommand("inspect", "show one instance as JSON");
    inspect->add_option("instance", ref, "id or name")->required();
    inspect->callback([&] { result = cli.inspect(ref); });

    for (const char* verb : {"start", "standby", "restore", "pause", "resume"}) {
        std::string help = std::string(verb) + " an instance";
        auto* cmd = app.add_subcommand(verb, help);
        cmd->add_option("instance", ref, "id or name")->required();
        cmd->callback([&cli, &ref, &result, verb] { result = cli.action(ref, verb); });
    }
    int stop_timeout = -1;
    auto* stop = app.add_subcommand("stop", "stop an instance: graceful, then forced after the timeout");
    stop->add_option("instance", ref, "id or name")->required();
    stop->add_option("--timeout-ms,-t", stop_timeout, "graceful shutdown timeout (default: the daemon's)");
    stop->callback([&] {
        json body = json::object();
        if (stop_timeout >= 0) body["timeout_ms"] = stop_timeout;
        result = cli.action(ref, "stop", &body);
    });

    std::vector<std::string> refs;
    auto* rm = app.add_subcommand("rm", "delete instances (running ones are killed)");
    rm->add_option("instances", refs, "ids or names")->required();
    rm->callback([&] { result = cli.remove(refs); });

    bool follow = false;
    int tail = -1;
    auto* logs = app.add_subcommand("logs", "print an instance's serial console output");
    logs->add_option("instance", ref, "id or name")->required();
    logs->add_flag("--follow,-f", follow, "keep printing new output while the VM runs");
    logs->add_option("--tail,-n", tail, "only the last N lines");
    bool raw = false;
    logs->add_flag("--raw", raw, "print guest bytes unchanged (default: control bytes and invalid UTF-8 as \\xNN)");
    logs->callback([&] { result = cli.logs(ref, follow, tail, raw); });

    std::string input, until;
    int console_timeout = 5'000;
    auto* console = app.add_subcommand("console", "send one line to the serial console and print the answer");
    console->add_option("instance", ref, "id or name")->required();
    console->add_option("input", input, "the line to send")->required();
    console->add_option("--until,-u", until, "wait until this text appears (default: the first line)");
    console->add_option("--timeout-ms,-t", console_timeout, "how long to wait")->capture_default_str();
    console->add_flag("--raw", raw, "print guest bytes unchanged (default: control bytes and invalid UTF-8 as \\xNN)");
    console->callback([&] { result = cli.console(ref, input, until, console_timeout, raw); });

    add_fork_commands(app, g);
    add_agent_commands(app, g);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return kUsage;
    }
    return result;
}
