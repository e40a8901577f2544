// brood-vmm: one process per VM. Parses the command line, builds the machine
// (boot or restore recipe), serves the control API and runs the VMM action
// loop until the end.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/http/server.hpp"
#include "vmm/boot.hpp"
#include "vmm/control_api.hpp"
#include "vmm/jail/jail.hpp"
#include "vmm/restore.hpp"
#include "vmm/snapshot/page_selection.hpp"
#include "vmm/vmm.hpp"

namespace {

using namespace brood;

struct Options {
    BootSource boot;
    MachineShape shape;
    RestoreSource restore;
    ConsoleConfig console;
    std::string control_socket;
    bool paused = false;
    int ready_fd = -1;
    std::string log_level = "warn";
    std::vector<std::string> disks;
    std::optional<uint64_t> vsock_cid;
    std::string vsock_socket;
    std::string net;
    jail::JailConfig jail;
};

[[noreturn]] void die(ExitCode code, const std::string& message) {
    std::fprintf(stderr, "brood-vmm: %s\n", message.c_str());
    std::exit(static_cast<int>(code));
}

void check_socket_path_free(const std::string& path, const char* what) {
    struct stat st{};
    if (!path.empty() && ::lstat(path.c_str(), &st) == 0) die(ExitCode::bad_input, fmt::format("{} path {} exists", what, path));
}

// Files broodd hands over by number, named /proc/self/fd/N in place of a
// path (its kernel, initrd and disk images): made close-on-exec at once,
// and closed by the caller once the machine is built and has opened its
// own, so nothing from outside the box stays open.
std::vector<int> handed_over_fds(const std::vector<std::string>& paths) {
    constexpr std::string_view kPrefix = "/proc/self/fd/";
    std::vector<int> fds;
    for (const auto& path : paths) {
        if (path.compare(0, kPrefix.size(), kPrefix) != 0) continue;
        const std::string number = path.substr(kPrefix.size());
        if (number.empty() || number.size() > 6 || number.find_first_not_of("0123456789") != std::string::npos)
            continue;
        int fd = std::stoi(number);
        if (fd > 2 && ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) fds.push_back(fd);
    }
    return fds;
}

} // namespace

int main(int argc, char** argv) {
    Options opt;
    CLI::App app{"brood-vmm: one KVM virtual machine per process"};
    app.require_subcommand(1);
    auto add_common = [&opt](CLI::App* cmd) {
        cmd->add_option("--serial-log", opt.console.log_path, "Append guest serial output to this file");
        cmd->add_option("--serial-socket", opt.console.socket_path, "Unix socket for the interactive serial console");
        cmd->add_flag("--serial-stdio", opt.console.stdio, "Serial console on stdin/stdout");
        cmd->add_option("--control-socket", opt.control_socket, "Unix socket for the control API (must not exist)");
        cmd->add_flag("--paused", opt.paused, "Do not run the vCPUs until PUT /vm/resume");
        cmd->add_option("--ready-fd", opt.ready_fd, "Write \"ready\\n\" to this fd once running");
        cmd->add_option("--disk", opt.disks,
                        "A virtio-blk disk: PATH[,ro][,base=BASE] (BASE: PATH is a copy-on-write overlay above it); "
                        "repeatable, in slot order");
        cmd->add_option("--vsock-cid", opt.vsock_cid,
                        "The guest's vsock CID (3 or more); on restore, left out: the snapshot's");
        cmd->add_option("--vsock-socket", opt.vsock_socket,
                        "A virtio-vsock device: host programs connect here and write \"CONNECT <port>\\n\"; "
                        "guest connections to host port P go to PATH_P");
        cmd->add_option("--net", opt.net,
                        "A virtio-net device: tap=NAME,mac=MAC (attach to a TAP) or fd=N,mac=MAC (a TAP fd "
                        "handed over); on restore, the restored machine's own TAP and MAC");
        cmd->add_flag("--jail", opt.jail.enabled,
                      "Box the VMM in: own mount, IPC and UTS namespaces, no capabilities, no_new_privs and a "
                      "seccomp allow-list once the machine is built (needs root)");
        cmd->add_option("--jail-uid", opt.jail.uid, "With --jail: run as this uid once the machine is built");
        cmd->add_option("--jail-gid", opt.jail.gid, "With --jail: run as this gid once the machine is built");
        cmd->add_option("--jail-dir", opt.jail.dir,
                        "With --jail: the instance directory, where snapshots and logs are written");
        cmd->add_option("--jail-cgroup", opt.jail.cgroups,
                        "With --jail: join the cgroup whose tasks or cgroup.procs file this is, first thing (repeatable)");
        cmd->add_option("--log-level", opt.log_level, "trace|debug|info|warn|error")
            ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    };
    auto* boot = app.add_subcommand("boot", "Boot a kernel (bzImage, ELF vmlinux or PVH ELF)");
    boot->add_option("--kernel", opt.boot.kernel_path, "Kernel image")->required();
    boot->add_option("--initrd", opt.boot.initrd_path, "Initial ramdisk");
    boot->add_option("--cmdline", opt.boot.cmdline, "Kernel command line");
    boot->add_option("--memory-mib", opt.shape.memory_mib, "Guest memory in MiB")->default_val(128);
    boot->add_option("--vcpus", opt.shape.vcpus, "Number of vCPUs")->default_val(1);
    add_common(boot);
    auto* restore = app.add_subcommand("restore", "Resume a VM from a snapshot");
    restore->add_option("--state", opt.restore.state_path, "Snapshot state file")->required();
    restore->add_option("--memory", opt.restore.memory_path, "Snapshot memory file")->required();
    restore->add_option("--backend", opt.restore.backend, "Memory backend: copy or file")
        ->check(CLI::IsMember({"copy", "file"}))
        ->default_val("file");
    add_common(restore);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);
        die(ExitCode::bad_input, e.what());
    }

    auto logger = spdlog::stderr_color_mt("brood-vmm");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(opt.log_level));
    if (opt.shape.memory_mib == 0) die(ExitCode::bad_input, "memory must be at least 16 MiB, got 0 MiB");
    if (opt.shape.memory_mib > (uint64_t{1} << 30)) die(ExitCode::bad_input, "memory size is absurdly large");
    check_socket_path_free(opt.control_socket, "control socket");
    check_socket_path_free(opt.console.socket_path, "serial socket");
    if (auto ok = jail::check(opt.jail); !ok) die(ExitCode::bad_input, ok.error().message());
    // While the process has one thread.
    if (auto ok = jail::enter_namespaces(opt.jail); !ok) die(ExitCode::vmm_error, ok.error().message());
    // Sockets inside the jail directory are named from it (the working
    // directory now): the box's root once it closes, where the VMM removes
    // them at exit and connects beside the vsock socket.
    for (std::string* path : {&opt.control_socket, &opt.console.socket_path, &opt.vsock_socket})
        *path = jail::local_path(opt.jail, *path);

    // Signals that end the VM go to a signalfd; block them before any thread exists.
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    UniqueFd signal_fd(::signalfd(-1, &mask, SFD_CLOEXEC));
    std::signal(SIGPIPE, SIG_IGN);

    std::vector<DiskConfig> disks;
    for (const auto& arg : opt.disks) {
        auto disk = parse_disk_arg(arg);
        if (!disk) die(ExitCode::bad_input, disk.error().message());
        disks.push_back(*disk);
    }
    opt.restore.disks = disks;
    std::vector<std::string> image_paths{opt.boot.kernel_path, opt.boot.initrd_path};
    for (const auto& disk : disks) image_paths.insert(image_paths.end(), {disk.path, disk.base});
    const std::vector<int> handed_over = handed_over_fds(image_paths);
    if (!opt.vsock_socket.empty() || opt.vsock_cid) {
        if (opt.vsock_cid && *opt.vsock_cid == 0) die(ExitCode::bad_input, "vsock CID must be 3 or more, got 0");
        VsockOptions vsock{opt.vsock_cid.value_or(0), opt.vsock_socket};
        opt.boot.vsock = vsock;
        opt.restore.vsock = vsock;
    }

    if (!opt.net.empty()) {
        auto net = parse_net_arg(opt.net);
        if (!net) die(ExitCode::bad_input, net.error().message());
        opt.boot.net = *net;
        opt.restore.net = *net;
    }

    auto console = Console::open(opt.console);
    if (!console) die(ExitCode::bad_input, console.error().message());

    nlohmann::json description;
    std::unique_ptr<Machine> machine;
    if (boot->parsed()) {
        auto built = build_for_boot(opt.boot, opt.shape, disks, *console);
        if (!built) die(built.error().bad_input ? ExitCode::bad_input : ExitCode::vmm_error, built.error().error.message());
        machine = std::move(*built);
        description["boot"] = {{"kernel", opt.boot.kernel_path}, {"initrd", opt.boot.initrd_path},
                               {"cmdline", opt.boot.cmdline}};
    } else {
        auto built = build_from_snapshot(opt.restore, *console);
        if (!built) die(built.error().bad_input ? ExitCode::bad_input : ExitCode::vmm_error, built.error().error.message());
        machine = std::move(*built);
        description["restored_from"] = {{"state", opt.restore.state_path}, {"memory", opt.restore.memory_path},
                                        {"backend", opt.restore.backend}};
    }

    auto actions = ActionQueue::create();
    if (!actions) die(ExitCode::vmm_error, actions.error().message());
    Vmm vmm(std::move(machine), std::move(*actions), std::move(description));
    vmm.set_path_mapper([jail = opt.jail](const std::string& path) { return jail::local_path(jail, path); });
    std::optional<http::Server> server;
    if (!opt.control_socket.empty()) {
        auto listening = http::Server::listen_unix(opt.control_socket, 0600);
        if (!listening) die(ExitCode::bad_input, listening.error().message());
        server.emplace(std::move(*listening));
    }
    // The machine has opened what it needs of the files it was handed.
    for (int fd : handed_over) ::close(fd);
    // Everything is open and bound: from here on the box holds. The vCPU and
    // API threads start inside it.
    if (opt.jail.enabled) {
        if (auto ok = snapshot::open_pagemap(); !ok) die(ExitCode::vmm_error, ok.error().message());
        if (!Vmm::open_proc_self()) die(ExitCode::vmm_error, "--jail: cannot open /proc/self/statm");
        if (auto ok = (*console)->open_outputs(); !ok) die(ExitCode::bad_input, ok.error().message());
    }
    if (auto ok = jail::lock_down(opt.jail); !ok) die(ExitCode::vmm_error, ok.error().message());
    if (opt.jail.enabled) vmm.machine().set_vcpu_thread_setup(jail::lock_down_vcpu_thread);
    // Every vCPU thread exists before the control API serves its first request.
    if (auto ok = vmm.machine().start(opt.paused); !ok) die(ExitCode::vmm_error, ok.error().message());
    if (server) {
        if (auto ok = server->start(make_control_router(vmm.actions())); !ok)
            die(ExitCode::vmm_error, ok.error().message());
    }
    if (opt.ready_fd >= 0) {
        (void)!::write(opt.ready_fd, "ready\n", 6);
        ::close(opt.ready_fd);
    }
    int code = vmm.run(signal_fd.get());
    if (server) server->stop();
    return code;
}
