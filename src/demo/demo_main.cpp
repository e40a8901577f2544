// brood-demo: the fan-out demo behind `make demo`. It talks to a broodd of its
// own through the REST API, as any client would: boot a VM, warm it up,
// standby, promote it to a template, fork 50 running VMs in one call, and
// show how fast they answered and what they cost the host.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "client/client.hpp"
#include "demo/scratch_daemon.hpp"
#include "support/proc_memory.hpp"

namespace {

using namespace brood;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
    std::string broodd, vmm, guest;
    unsigned forks = 50;
    unsigned memory_mib = 512;
    unsigned touch_mib = 256;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }


double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    double rank = p / 100.0 * static_cast<double>(v.size() - 1);
    size_t lo = static_cast<size_t>(std::floor(rank));
    size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

void step(const std::string& what, double ms) {
    std::string time = ms < 10 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.0f} ms", ms);
    fmt::print("  {:<62} {:>9}\n", what, time);
    std::fflush(stdout);
}


Result<void> run(const Options& o, demo::ScratchDaemon& daemon, Clock::time_point began) {
    auto api = TRY(client::Client::connect(daemon.socket()));

    auto t = Clock::now();
    json create{{"name", "demo-source"}, {"kernel", o.guest}, {"memory_mib", o.memory_mib}, {"vcpus", 1}};
    std::string source = TRY(api.call("POST", "/instances", create)).value("id", "");
    TRY(api.call("POST", "/instances/" + source + "/start"));
    step(fmt::format("create and start demo-source (test guest, {} MiB, 1 vCPU)", o.memory_mib), ms_since(t));

    t = Clock::now();
    json touch{{"input", fmt::format("touch {} 1", o.touch_mib)}, {"until", "touched"}, {"timeout_ms", 120'000}};
    auto touched = TRY(api.call("POST", "/instances/" + source + "/console", touch, 130'000));
    if (touched.value("output", "").find("touched pages=") == std::string::npos)
        return fail("the guest did not touch its memory: " + touched.dump());
    step(fmt::format("warm it up: the guest writes {} MiB (\"touch {} 1\")", o.touch_mib, o.touch_mib), ms_since(t));

    t = Clock::now();
    TRY(api.call("POST", "/instances/" + source + "/standby"));
    step("standby: state and memory to disk, its VMM exits", ms_since(t));

    t = Clock::now();
    std::string tpl = TRY(api.call("POST", "/templates", json{{"instance", source}, {"name", "demo-template"}}))
                          .value("id", "");
    step("promote demo-source to the template demo-template", ms_since(t));

    t = Clock::now();
    json fork{{"name_prefix", "demo-fork"}, {"count", o.forks}, {"target_state", "Running"}};
    auto answer = TRY(api.fork_template(tpl, fork, 300'000));
    auto fork_began = t;
    double call_ms = ms_since(t);
    if (!answer.errors.empty())
        fmt::print("  {} forks failed, the first: {}\n", answer.errors.size(), answer.errors.front().dump());
    const std::vector<json>& forks = answer.instances;
    step(fmt::format("fork {} running VMs from the template, in one API call", o.forks), call_ms);

    // Every fork is asked `ping` at once; latency counts from the fork call.
    std::vector<double> latency(forks.size(), -1);
    std::vector<pid_t> pids(forks.size(), 0);
    auto ping = [&](size_t i, client::Client& conn) -> Result<void> {
        std::string id = forks[i].value("id", "");
        json ask{{"input", "ping"}, {"until", "pong"}, {"timeout_ms", 10'000}};
        auto pong = conn.call("POST", "/instances/" + id + "/console", ask, 15'000);
        if (pong && pong->value("output", "").find("pong") != std::string::npos) latency[i] = ms_since(fork_began);
        if (forks[i].contains("pid") && forks[i]["pid"].is_number_integer()) pids[i] = forks[i]["pid"].get<pid_t>();
        return {};
    };
    TRY(client::in_parallel(daemon.socket(), forks.size(), 8, ping));
    std::vector<double> answered;
    for (double ms : latency)
        if (ms >= 0) answered.push_back(ms);
    std::erase(pids, 0);

    // Host memory, counted as the benches count it: the forks' Pss plus the
    // template file's page cache (mincore), each page once.
    std::string memory = fmt::format("{}/guests/{}/snapshots/snapshot-latest/memory", daemon.data_dir(), source);
    auto host = TRY_CTX(bench::read_host_memory(pids, {memory}), "host memory of the forks");
    struct stat st {};
    double template_disk_mib = ::stat(memory.c_str(), &st) == 0 ? static_cast<double>(st.st_blocks) * 512 / (1 << 20) : 0;
    double copies_mib = template_disk_mib * static_cast<double>(o.forks);

    fmt::print("\n  the {} forks\n", o.forks);
    fmt::print("    {:<34} {} of {}\n", "answered ping", answered.size(), o.forks);
    fmt::print("    {:<34} p50 {:.1f} ms, p99 {:.1f} ms\n", "fork latency (fork call to pong)",
               percentile(answered, 50), percentile(answered, 99));
    fmt::print("    {:<34} {:.0f} ms\n", fmt::format("all {} answering", answered.size()),
               answered.empty() ? 0.0 : *std::max_element(answered.begin(), answered.end()));
    fmt::print("    {:<34} {:.1f} MiB in all, {:.2f} MiB per fork (measured: their VMMs' Pss without\n"
               "    {:<34} the template file's pages {:.1f} MiB, plus that file in the page cache {:.1f} MiB)\n",
               "host memory of the forks", host.total_mib(),
               host.total_mib() / static_cast<double>(std::max<size_t>(pids.size(), 1)), "", host.pss_outside_mib,
               host.page_cache_mib);
    fmt::print("    {:<34} {:.1f} MiB on disk, {:.1f} MiB of it in the page cache (mincore), mapped\n"
               "    {:<34} copy-on-write by all the forks\n",
               "the template's memory file", template_disk_mib, host.page_cache_mib, "");
    fmt::print("    {:<34} ~{:.0f} MiB ({} x the {:.1f} MiB file; not measured): ~{:.0f}x what the forks use\n",
               fmt::format("{} private copies, estimated", o.forks), copies_mib, o.forks, template_disk_mib,
               copies_mib / std::max(host.total_mib(), 1e-9));
    fmt::print("\n");

    t = Clock::now();
    auto remove = [&](size_t i, client::Client& conn) -> Result<void> {
        TRY(conn.call("DELETE", "/instances/" + forks[i].value("id", "")));
        return {};
    };
    TRY(client::in_parallel(daemon.socket(), forks.size(), 4, remove));
    TRY(api.call("DELETE", "/templates/" + tpl));
    TRY(api.call("DELETE", "/instances/" + source));
    step(fmt::format("clean up: delete the {} forks, the template, the source", forks.size()), ms_since(t));
    fmt::print("  {:<62} {:>9}\n", "whole demo", fmt::format("{:.1f} s", ms_since(began) / 1000));
    if (answered.size() != forks.size() || forks.size() != o.forks)
        return fail(fmt::format("only {} of {} forks answered", answered.size(), o.forks));
    return {};
}

std::string next_to_self(const std::string& rel) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return (self.parent_path() / rel).lexically_normal().string();
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    o.broodd = next_to_self("../api/broodd");
    o.vmm = next_to_self("../vmm/brood-vmm");
    o.guest = next_to_self("../../guest/brood-test-guest.elf");
    CLI::App app{"brood-demo: fork a fleet of VMs from one template through broodd's API"};
    app.add_option("--broodd", o.broodd, "broodd binary")->capture_default_str();
    app.add_option("--vmm", o.vmm, "brood-vmm binary")->capture_default_str();
    app.add_option("--guest", o.guest, "test guest ELF")->capture_default_str();
    app.add_option("--forks", o.forks, "forks in the fan-out")->check(CLI::Range(1, 1000))->capture_default_str();
    app.add_option("--memory-mib", o.memory_mib, "guest memory")->capture_default_str();
    app.add_option("--touch-mib", o.touch_mib, "memory the guest writes before it becomes the template")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    for (const auto& path : {o.broodd, o.vmm, o.guest})
        if (::access(path.c_str(), R_OK) != 0) {
            std::fprintf(stderr, "demo: %s is missing (make build)\n", path.c_str());
            return 1;
        }
    o.guest = fs::absolute(o.guest).string();

    auto began = Clock::now();
    fmt::print("brood demo: boot one VM, warm it up, make it a template, fork {} VMs from it\n\n", o.forks);
    auto daemon = demo::ScratchDaemon::start(o.broodd, o.vmm, std::filesystem::path(o.guest).parent_path().string());
    if (!daemon) {
        std::fprintf(stderr, "demo: %s\n", daemon.error().message().c_str());
        return 1;
    }
    step("start broodd in " + (*daemon)->dir(), ms_since(began));
    auto done = run(o, **daemon, began);
    if (!done && demo::interrupted()) {
        for (;;) ::pause(); // the signal's clean-up ends the process
    }
    if (!done) {
        std::fprintf(stderr, "demo: %s\nbroodd's log:\n%s\n", done.error().message().c_str(),
                     (*daemon)->log_tail().c_str());
        return 1;
    }
    return 0;
}
