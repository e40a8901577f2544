#include "vmm/vmm.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/snapshot_writer.hpp"

namespace brood {
namespace {

using Clock = std::chrono::steady_clock;

// /proc/self/statm, opened once and read with pread: in the box (--jail)
// there is no /proc, so the first call must come before it closes
// (Vmm::open_proc_self()). Only this file: a descriptor of /proc/self would
// lead back to the host's /proc through "..".
int statm_fd() {
    static const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    return fd;
}

uint64_t rss_kib() {
    std::string text;
    char buf[256];
    ssize_t n = statm_fd() < 0 ? -1 : ::pread(statm_fd(), buf, sizeof buf, 0);
    if (n > 0) text.assign(buf, static_cast<size_t>(n));
    std::istringstream statm(text);
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
}

// Guest pages mincore calls resident. For anonymous RAM, the pages this VM
// touched and that are in memory (not swapped out). For RAM mapped from a
// memory file, also every page of that file in the page cache, whether or
// not this process ever touched it (other VMs of the same file, the writer
// of the snapshot): mincore reports page-cache residency, not this process's
// mappings, so it is not this VM's share of memory.
uint64_t guest_resident_kib(GuestMemory& memory) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t pages = memory.size() / page;
    std::vector<unsigned char> vec(pages);
    if (::mincore(memory.host_base(), memory.size(), vec.data()) < 0) return 0;
    uint64_t resident = 0;
    for (unsigned char v : vec) resident += v & 1;
    return resident * page / 1024;
}

} // namespace

bool Vmm::open_proc_self() { return statm_fd() >= 0; }

Vmm::Vmm(std::unique_ptr<Machine> machine, std::unique_ptr<ActionQueue> actions, nlohmann::json description)
    : _machine(std::move(machine)), _actions(std::move(actions)), _description(std::move(description)),
      _started(Clock::now()) {}

http::Response Vmm::handle(const VmmAction& action) {
    switch (action.kind) {
    case VmmActionKind::info:
        return info();
    case VmmActionKind::pause:
        if (auto r = _machine->pause(); !r) return http::error(409, "wrong_state", r.error().message());
        return http::no_content();
    case VmmActionKind::resume:
        if (auto r = _machine->resume(); !r) return http::error(409, "wrong_state", r.error().message());
        return http::no_content();
    case VmmActionKind::snapshot:
        return snapshot(action.body);
    case VmmActionKind::shutdown:
        return shutdown(action.body);
    case VmmActionKind::stats:
        return stats();
    }
    return http::error(500, "internal", "unknown action");
}

http::Response Vmm::info() {
    auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - _started);
    nlohmann::json info = _description;
    info["state"] = _machine->paused() ? "paused" : "running";
    info["vcpus"] = _machine->vcpu_count();
    info["memory_mib"] = _machine->memory().size() >> 20;
    info["pid"] = ::getpid();
    info["uptime_ms"] = uptime.count();
    return http::json(200, info);
}

http::Response Vmm::shutdown(const nlohmann::json& body) {
    bool force = body.value("force", false);
    int timeout_ms = body.value("timeout_ms", 5000);
    if (timeout_ms < 0) return http::error(400, "bad_request", "timeout_ms must not be negative");
    if (force) {
        _machine->request_exit(ExitCode::power_off, "shutdown requested");
        return http::json(202, {{"shutdown", "forced"}});
    }
    _machine->i8042().send_ctrl_alt_del();
    // The loop ends the machine at the deadline; a second request may only bring it forward.
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    if (!_shutdown_deadline || deadline < *_shutdown_deadline) _shutdown_deadline = deadline;
    return http::json(202, {{"shutdown", "requested"}, {"timeout_ms", timeout_ms}});
}

http::Response Vmm::snapshot(const nlohmann::json& body) {
    if (!_machine->paused()) return http::error(409, "wrong_state", "pause the VM before a snapshot");
    auto request = parse_snapshot_request(body);
    if (!request) return http::error(400, "snapshot_failed", request.error().message());
    if (!request->dir.empty()) request->dir = _map_path(request->dir);
    if (!request->state_path.empty()) request->state_path = _map_path(request->state_path);
    if (!request->memory_path.empty()) request->memory_path = _map_path(request->memory_path);
    auto stats = write_snapshot(*_machine, *request);
    if (!stats) return http::error(400, "snapshot_failed", stats.error().message());
    return http::json(200, {{"diff", stats->diff},
                            {"reflinked", stats->reflinked},
                            {"bytes_written", stats->bytes_written},
                            {"bytes_copied", stats->bytes_copied}});
}

http::Response Vmm::stats() {
    uint64_t rss = rss_kib();
    uint64_t guest = guest_resident_kib(_machine->memory());
    return http::json(200, {{"rss_kib", rss}, {"guest_resident_kib", guest}, {"vmm_kib", rss > guest ? rss - guest : 0}});
}

int Vmm::poll_timeout_ms() const {
    if (!_shutdown_deadline) return -1;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(*_shutdown_deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

int Vmm::run(int signal_fd) {
    pollfd fds[3] = {{_machine->exit_fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}, {_actions->event_fd(), POLLIN, 0}};
    int signal_exit = -1;
    auto handler = [this](const VmmAction& action) { return handle(action); };
    while (true) {
        int n = ::poll(fds, 3, poll_timeout_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents & POLLIN) break;
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo info{};
            if (::read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
                signal_exit = exit_code_for_signal(static_cast<int>(info.ssi_signo));
                _machine->request_exit(ExitCode::vmm_error, fmt::format("terminated by signal {}", info.ssi_signo));
            }
            continue;
        }
        if (fds[2].revents & POLLIN) _actions->run_pending(handler);
        if (_shutdown_deadline && Clock::now() >= *_shutdown_deadline) {
            _shutdown_deadline.reset();
            _machine->request_exit(ExitCode::power_off, "graceful shutdown timed out; stopped");
        }
    }
    _actions->close();
    MachineExit end = _machine->finish();
    if (signal_exit >= 0) {
        spdlog::info("{}", end.reason);
        return signal_exit;
    }
    if (end.code != ExitCode::power_off) std::fprintf(stderr, "brood-vmm: %s\n", end.reason.c_str());
    else spdlog::info("{}", end.reason);
    return static_cast<int>(end.code);
}

} // namespace brood
