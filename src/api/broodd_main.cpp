// broodd: the brood manager daemon, in the foreground.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/routes.hpp"
#include "manager/crash_point.hpp"
#include "common/http/server.hpp"
#include "common/read_file.hpp"
#include "common/unique_fd.hpp"

namespace fs = std::filesystem;
using namespace brood;

namespace {

struct Options {
    std::string data_dir = "/var/lib/brood";
    std::vector<std::string> images_dirs;
    std::string socket = "/run/brood/brood.sock";
    std::string socket_mode = "0660";
    std::string tcp;
    std::string token_file;
    std::string vmm;
    std::string restore_backend = "file";
    int ready_timeout_ms = 30'000;
    int fork_concurrency = 4;
    int agent_connect_timeout_ms = 3'000;
    uint64_t max_instances = 1024;
    uint64_t memory_budget_mib = 0; // 0: MemTotal minus a reserve
    double fork_overcommit = 4.0;
    std::string bridge = "brood0";
    std::string subnet = "172.30.0.0/24";
    std::string vmm_jail = "auto";
    std::string vmm_cgroups = "auto";
    uint32_t vmm_uid_base = 200'000;
    std::string crash_at;
};

std::string find_vmm(const std::string& flag) {
    if (!flag.empty()) return flag;
    if (const char* env = std::getenv("BROOD_VMM"); env && *env) return env;
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    for (const fs::path& candidate : {self.parent_path() / "brood-vmm", self.parent_path() / "../vmm/brood-vmm"})
        if (fs::exists(candidate, ec)) return fs::weakly_canonical(candidate, ec).string();
    return "brood-vmm";
}

// A unix socket path that exists but where nobody listens is stale.
bool someone_listens(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

std::string read_token(const Options& o) {
    if (!o.token_file.empty()) {
        std::string token = brood::read_file(o.token_file, 4096).value_or("");
        return token.substr(0, token.find('\n'));
    }
    const char* env = std::getenv("BROOD_TOKEN");
    return env ? env : "";
}

int run(const Options& o) {
    // Guest memory, disks, logs and sockets are this user's alone: everything
    // broodd and its VMMs create is 0700/0600 at most (the API socket's mode
    // is set explicitly below).
    ::umask(077);
    std::error_code ec;
    fs::create_directories(o.data_dir, ec);
    ::chmod(o.data_dir.c_str(), 0700);
    std::string lock_path = o.data_dir + "/.broodd.lock";
    UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    // A VMM being spawned by a daemon that just died may hold the lock for a
    // moment (until its exec closes the inherited descriptor): retry briefly.
    bool locked = false;
    for (int attempt = 0; lock && attempt < 60 && !locked; ++attempt) {
        locked = ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0;
        if (!locked) ::usleep(50'000);
    }
    if (!locked) {
        std::fprintf(stderr, "broodd: another broodd uses %s\n", o.data_dir.c_str());
        return 1;
    }
    manager::ManagerConfig config;
    config.data_dir = o.data_dir;
    config.vmm_binary = find_vmm(o.vmm);
    config.images_dirs = o.images_dirs;
    config.restore_backend = manager::backend_from_string(o.restore_backend).value_or(manager::Backend::file);
    config.ready_timeout_ms = o.ready_timeout_ms;
    config.fork_concurrency = o.fork_concurrency;
    config.agent_connect_timeout_ms = o.agent_connect_timeout_ms;
    config.admission.max_instances = o.max_instances;
    config.admission.memory_budget_mib = o.memory_budget_mib;
    config.admission.fork_overcommit = o.fork_overcommit;
    config.bridge = o.bridge;
    config.subnet = o.subnet;
    config.vmm_jail = o.vmm_jail == "on" || (o.vmm_jail == "auto" && ::geteuid() == 0);
    config.vmm_uid_base = o.vmm_uid_base;
    if (o.vmm_cgroups == "on" && !config.vmm_jail) {
        std::fprintf(stderr, "broodd: --vmm-cgroups on needs the box (--vmm-jail on, or auto as root)\n");
        return 2;
    }
    config.vmm_cgroups = o.vmm_cgroups == "on" || (o.vmm_cgroups == "auto" && config.vmm_jail);
    config.vmm_cgroups_required = o.vmm_cgroups == "on";
    if (!o.crash_at.empty()) {
        auto point = manager::parse_crash_point(o.crash_at);
        if (!point) {
            std::fprintf(stderr, "broodd: --crash-at: %s\n", point.error().message().c_str());
            return 2;
        }
        manager::crash_at(config, *point);
        std::fprintf(stderr, "broodd: crash tests: this daemon kills itself at %s\n", o.crash_at.c_str());
    }
    auto opened = manager::Manager::open(config);
    if (!opened) {
        std::fprintf(stderr, "broodd: %s\n", opened.error().message().c_str());
        return 1;
    }
    auto& m = **opened;
    const auto& rep = m.reconcile_report();
    std::fprintf(stderr,
                 "broodd: data dir %s, vmm %s: %d instances (%d running VMMs adopted, %d marked Failed), "
                 "%d leftover directories and %d stray VMMs removed\n",
                 m.layout().root().c_str(), config.vmm_binary.c_str(), rep.loaded, rep.adopted, rep.marked_failed,
                 rep.removed_dirs, rep.killed_strays);
    std::fprintf(stderr, "broodd: images from %s\n", m.image_dirs().describe().c_str());
    const auto& limits = m.admission_limits();
    std::fprintf(stderr, "broodd: admission: at most %llu instances, a memory budget of %llu MiB, fork overcommit %g\n",
                 static_cast<unsigned long long>(limits.max_instances),
                 static_cast<unsigned long long>(limits.memory_budget_mib), limits.fork_overcommit);

    fs::create_directories(fs::path(o.socket).parent_path(), ec);
    if (fs::exists(fs::symlink_status(o.socket, ec))) {
        if (someone_listens(o.socket)) {
            std::fprintf(stderr, "broodd: a daemon already listens on %s\n", o.socket.c_str());
            return 1;
        }
        ::unlink(o.socket.c_str());
    }
    mode_t mode = static_cast<mode_t>(std::strtoul(o.socket_mode.c_str(), nullptr, 8));
    auto unix_server = http::Server::listen_unix(o.socket, mode);
    if (!unix_server) {
        std::fprintf(stderr, "broodd: %s\n", unix_server.error().message().c_str());
        return 1;
    }
    std::optional<http::Server> tcp_server;
    if (!o.tcp.empty()) {
        http::ServerOptions tcp_options;
        tcp_options.bearer_token = read_token(o);
        if (tcp_options.bearer_token.empty()) {
            std::fprintf(stderr, "broodd: --tcp needs a token (--token-file or BROOD_TOKEN)\n");
            return 2;
        }
        size_t colon = o.tcp.rfind(':');
        if (colon == std::string::npos) {
            std::fprintf(stderr, "broodd: --tcp wants HOST:PORT\n");
            return 2;
        }
        auto port = static_cast<uint16_t>(std::strtoul(o.tcp.c_str() + colon + 1, nullptr, 10));
        auto s = http::Server::listen_tcp(o.tcp.substr(0, colon), port, tcp_options);
        if (!s) {
            std::fprintf(stderr, "broodd: %s\n", s.error().message().c_str());
            return 1;
        }
        tcp_server.emplace(std::move(*s));
        if (auto started = tcp_server->start(api::make_router(m)); !started) return 1;
        std::fprintf(stderr, "broodd: listening on tcp %s (bearer token required)\n", o.tcp.c_str());
    }
    if (auto started = unix_server->start(api::make_router(m)); !started) return 1;
    std::fprintf(stderr, "broodd: listening on %s\n", o.socket.c_str());

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    std::fprintf(stderr, "broodd: signal %d, stopping (VMMs keep running)\n", sig);
    unix_server->stop();
    if (tcp_server) tcp_server->stop();
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    // Block the stop signals before any thread starts; run() waits for them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    // The manager's log lines (operations, VMM exits, reconcile decisions) go to stderr.
    spdlog::set_default_logger(spdlog::stderr_logger_mt("broodd"));
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");

    Options o;
    CLI::App app{"broodd: the brood manager daemon (runs in the foreground)"};
    app.add_option("--data-dir", o.data_dir, "data directory")->capture_default_str();
    app.add_option("--images-dir", o.images_dirs,
                   "a directory kernels, initrds and disk images may come from; repeatable (default: "
                   "DATA_DIR/images)");
    app.add_option("--socket", o.socket, "unix socket of the API")->capture_default_str();
    app.add_option("--socket-mode", o.socket_mode, "permissions of the socket (octal)")->capture_default_str();
    app.add_option("--tcp", o.tcp, "also serve the API on HOST:PORT (needs a bearer token)");
    app.add_option("--token-file", o.token_file, "file holding the bearer token for --tcp (else BROOD_TOKEN)");
    app.add_option("--vmm", o.vmm, "brood-vmm binary (else BROOD_VMM, else next to broodd)");
    app.add_option("--restore-backend", o.restore_backend, "memory backend for restore")
        ->check(CLI::IsMember({"file", "copy"}))
        ->capture_default_str();
    app.add_option("--ready-timeout-ms", o.ready_timeout_ms, "how long a VMM may take to become ready")
        ->capture_default_str();
    app.add_option("--fork-concurrency", o.fork_concurrency,
                   "template forks one fan-out request makes at once (a request's \"concurrency\" overrides it)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--max-instances", o.max_instances, "instances that may exist at once, in any state")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}))
        ->capture_default_str();
    app.add_option("--memory-budget-mib", o.memory_budget_mib,
                   "guest memory all instances may have together (default: MemTotal minus an eighth, at least 512 MiB)")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    app.add_option("--fork-overcommit", o.fork_overcommit,
                   "a template fork counts its memory divided by this against the budget")
        ->check(CLI::Range(1.0, 1024.0))
        ->capture_default_str();
    app.add_option("--bridge", o.bridge, "the bridge instances' TAPs join; broodd creates it and gives it the subnet's .1")
        ->capture_default_str();
    app.add_option("--subnet", o.subnet, "the IPv4 subnet instances' addresses come from")->capture_default_str();
    app.add_option("--agent-connect-timeout-ms", o.agent_connect_timeout_ms,
                   "how long to try to reach a guest agent before answering 502")
        ->check(CLI::Range(1, 600'000))
        ->capture_default_str();
    app.add_option("--vmm-jail", o.vmm_jail,
                   "box each VMM in (namespaces, no capabilities, seccomp, its own uid): auto means when broodd "
                   "runs as root")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    app.add_option("--vmm-cgroups", o.vmm_cgroups,
                   "a cgroup for each VMM with memory and pids limits (cgroup v2, or v1's memory and pids): auto "
                   "means with --vmm-jail")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    app.add_option("--vmm-uid-base", o.vmm_uid_base,
                   "a boxed VMM runs as uid and gid BASE + its vsock CID (0: as broodd's uid)")
        ->capture_default_str();
    // For crash tests only, and so out of --help (docs/manager.md, "Crash points").
    app.add_option("--crash-at", o.crash_at, "")->group("");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "broodd: %s\n", e.what());
        return 1;
    }
}
