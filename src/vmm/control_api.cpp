#include "vmm/control_api.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "common/http/message.hpp"
#include "common/read_file.hpp"

namespace brood {
namespace {

uint64_t rss_kib() {
    std::istringstream statm(read_file("/proc/self/statm", 256).value_or(""));
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

http::Response vm_info(ControlContext& ctx) {
    auto& m = ctx.machine;
    auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                        ctx.started);
    nlohmann::json info = ctx.description;
    info["state"] = m.paused() ? "paused" : "running";
    info["vcpus"] = m.vcpu_count();
    info["memory_mib"] = m.memory().size() >> 20;
    info["pid"] = ::getpid();
    info["uptime_ms"] = uptime.count();
    return http::json(200, info);
}

http::Response shutdown(ControlContext& ctx, const http::Request& req) {
    nlohmann::json body = req.body.empty() ? nlohmann::json::object() : nlohmann::json::parse(req.body);
    bool force = body.value("force", false);
    int timeout_ms = body.value("timeout_ms", 5000);
    if (timeout_ms < 0) return http::error(400, "bad_request", "timeout_ms must not be negative");
    if (force) {
        ctx.machine.request_exit(ExitCode::power_off, "shutdown requested");
        return http::json(202, {{"shutdown", "forced"}});
    }
    ctx.machine.i8042().send_ctrl_alt_del();
    Machine* machine = &ctx.machine;
    std::thread([machine, timeout_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
        machine->request_exit(ExitCode::power_off, "graceful shutdown timed out; stopped");
    }).detach();
    return http::json(202, {{"shutdown", "requested"}, {"timeout_ms", timeout_ms}});
}

} // namespace

http::Router make_control_router(ControlContext& ctx) {
    http::Router router;
    router.add("GET", "/vm", [&ctx](http::Request&) { return vm_info(ctx); });
    router.add("PUT", "/vm/pause", [&ctx](http::Request&) {
        if (auto r = ctx.machine.pause(); !r) return http::error(409, "wrong_state", r.error().message());
        return http::no_content();
    });
    router.add("PUT", "/vm/resume", [&ctx](http::Request&) {
        if (auto r = ctx.machine.resume(); !r) return http::error(409, "wrong_state", r.error().message());
        return http::no_content();
    });
    router.add("PUT", "/vm/shutdown", [&ctx](http::Request& req) { return shutdown(ctx, req); });
    router.add("PUT", "/vm/snapshot", [&ctx](http::Request& req) {
        if (!ctx.machine.paused()) return http::error(409, "wrong_state", "pause the VM before a snapshot");
        auto body = nlohmann::json::parse(req.body.empty() ? "{}" : req.body);
        auto written = ctx.snapshot(body);
        if (!written) return http::error(400, "snapshot_failed", written.error().message());
        return http::json(200, *written);
    });
    router.add("GET", "/vm/stats", [&ctx](http::Request&) {
        uint64_t rss = rss_kib();
        uint64_t guest = guest_resident_kib(ctx.machine.memory());
        return http::json(200, {{"rss_kib", rss},
                                {"guest_resident_kib", guest},
                                {"vmm_kib", rss > guest ? rss - guest : 0}});
    });
    return router;
}

} // namespace brood
