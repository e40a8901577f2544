// bench_api: what broodd's API adds on top of driving brood-vmm directly.
// A/B in one run, same guest, same machine:
//   get_instance        GET /instances/{id} through broodd  vs  GET /vm on the VMM's control socket
//   standby / restore   POST .../standby + .../restore       vs  pause+snapshot+shutdown, spawn restore
//   fork_to_running, vmm_pss_per_fork   template forks (memory linked) vs instance forks (memory copied)
// Prints one JSON object per line (docs/benchmarks.md).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>

#include "client/broodd_process.hpp"
#include "common/http/client.hpp"
#include "manager/snapshot_files.hpp"
#include "manager/vmm_control.hpp"
#include "manager/vmm_process.hpp"
#include "support/environment.hpp"
#include "support/proc_memory.hpp"
#include "support/report.hpp"


namespace fs = std::filesystem;
using namespace brood;
using bench::note;
using Clock = std::chrono::steady_clock;

namespace {

// BROOD_BROODD overrides the broodd from the build.
std::string broodd_path() {
    const char* env = std::getenv("BROOD_BROODD");
    return env && *env ? env : BROOD_BENCH_BROODD;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
    note("bench_api: {}", what);
    std::exit(1);
}

http::Response must(Result<http::Response> r, int want, const std::string& what) {
    if (!r) die(what + ": " + r.error().message());
    if (r->status != want) die(what + ": HTTP " + std::to_string(r->status) + " " + r->body);
    return *r;
}

// broodd in `dir`, started by the shared launcher; stopped (SIGTERM) at the end.
struct Broodd {
    std::optional<client::BrooddProcess> process;
    std::string socket;
    ~Broodd() {
        if (process) process->stop(std::chrono::seconds(30));
    }
};

void start_broodd(Broodd& d, const std::string& dir) {
    client::LaunchOptions options;
    options.broodd = broodd_path();
    options.vmm = bench::vmm_path();
    options.dir = dir;
    options.images_dirs = {std::filesystem::path(bench::test_guest_path()).parent_path().string()};
    auto started = client::BrooddProcess::start(options);
    if (!started) die("broodd: " + started.error().message());
    d.process.emplace(std::move(*started));
    d.socket = d.process->socket();
}

std::vector<std::string> vmm_common(const std::string& dir) {
    return {"--control-socket", dir + "/control.sock", "--serial-log", dir + "/serial.log"};
}

std::shared_ptr<manager::VmmProcess> spawn_vmm(std::vector<std::string> args, const std::string& dir) {
    auto common = vmm_common(dir);
    args.insert(args.end(), common.begin(), common.end());
    auto vmm = manager::VmmProcess::spawn({bench::vmm_path(), args, dir + "/vmm.log", 30'000, false, {}});
    if (!vmm) die("brood-vmm: " + vmm.error().message());
    return *vmm;
}

void bench_get(bench::Reporter& report, const std::string& daemon_socket, const std::string& id,
               const std::string& vmm_socket, int n) {
    for (bool reuse : {true, false}) {
        nlohmann::json params{{"connection", reuse ? "kept-alive" : "new per call"}, {"n", n}};
        auto daemon = http::Client::connect_unix(daemon_socket);
        auto vmm = http::Client::connect_unix(vmm_socket);
        if (!daemon || !vmm) die("connect");
        for (int i = 0; i < n; ++i) {
            auto t = Clock::now();
            if (!reuse) daemon = http::Client::connect_unix(daemon_socket);
            must(daemon->request("GET", "/instances/" + id), 200, "GET instance");
            report.add("broodd", "get_instance", "ms", params, ms_since(t));
            t = Clock::now();
            if (!reuse) vmm = http::Client::connect_unix(vmm_socket);
            must(vmm->request("GET", "/vm"), 200, "GET /vm");
            report.add("brood-vmm", "get_instance", "ms", params, ms_since(t));
        }
    }
    report.flush();
}

void bench_standby_restore_daemon(bench::Reporter& report, const std::string& socket, const std::string& id, int n) {
    auto client = http::Client::connect_unix(socket);
    if (!client) die("connect broodd");
    nlohmann::json params{{"memory_mib", 128}, {"backend", "file"}, {"n", n}};
    for (int i = 0; i < n; ++i) {
        auto t = Clock::now();
        must(client->request("POST", "/instances/" + id + "/standby", "", 120'000), 200, "standby");
        double standby = ms_since(t);
        t = Clock::now();
        must(client->request("POST", "/instances/" + id + "/restore", "", 120'000), 200, "restore");
        double restore = ms_since(t);
        report.add("broodd", "standby", "ms", params, standby);
        report.add("broodd", "restore", "ms", params, restore);
        report.add("broodd", "standby_restore", "ms", params, standby + restore);
    }
}

void bench_standby_restore_direct(bench::Reporter& report, const std::string& dir, int n) {
    nlohmann::json params{{"memory_mib", 128}, {"backend", "file"}, {"n", n}};
    auto vmm = spawn_vmm({"boot", "--kernel", bench::test_guest_path(), "--memory-mib", "128", "--vcpus", "1"}, dir);
    for (int i = 0; i < n; ++i) {
        std::string snap = dir + "/snap-" + std::to_string(i % 2);
        fs::remove_all(snap);
        auto t = Clock::now();
        fs::create_directories(snap);
        manager::VmmControl control(dir + "/control.sock");
        if (!control.pause() || !control.snapshot(snap + "/state", snap + "/memory", 120'000))
            die("direct pause/snapshot failed; see " + dir + "/vmm.log");
        (void)control.shutdown(true, 0);
        if (!vmm->wait_exit(10'000)) die("vmm did not exit");
        double standby = ms_since(t);
        t = Clock::now();
        vmm = spawn_vmm({"restore", "--state", snap + "/state", "--memory", snap + "/memory", "--backend", "file"}, dir);
        double restore = ms_since(t);
        report.add("brood-vmm", "standby", "ms", params, standby);
        report.add("brood-vmm", "restore", "ms", params, restore);
        report.add("brood-vmm", "standby_restore", "ms", params, standby + restore);
    }
    vmm->kill(SIGKILL);
    vmm->wait_exit(5'000);
}

// The memory file behind an instance (a template fork's is a link to the
// template's), resolved; empty when it has none.
std::string memory_file_of(const std::string& data_dir, const std::string& id) {
    std::error_code ec;
    auto path = std::filesystem::canonical(data_dir + "/guests/" + id + "/snapshots/snapshot-latest/memory", ec);
    return ec ? std::string() : path.string();
}

// Forks of one Standby source: through a template (memory linked, shared) and
// as plain instance forks (memory copied), each restored to Running.
void bench_forks(bench::Reporter& report, const std::string& socket, const std::string& data_dir, int n) {
    auto client = http::Client::connect_unix(socket);
    if (!client) die("connect broodd");
    nlohmann::json create{{"name", "fork-src"}, {"kernel", bench::test_guest_path()}, {"memory_mib", 128}};
    must(client->request("POST", "/instances", create.dump()), 201, "create fork source");
    must(client->request("POST", "/instances/fork-src/start"), 200, "start fork source");
    // Give the source some memory worth sharing: 64 MiB touched.
    nlohmann::json touch{{"input", "touch 64 1"}, {"until", "touched"}, {"timeout_ms", 120'000}};
    must(client->request("POST", "/instances/fork-src/console", touch.dump(), 130'000), 200, "touch");
    must(client->request("POST", "/instances/fork-src/standby", "", 120'000), 200, "standby fork source");
    nlohmann::json params{{"memory_mib", 128}, {"touched_mib", 64}, {"forks", n}};
    for (const std::string kind : {"instance-fork", "template-fork"}) {
        if (kind == "template-fork") {
            nlohmann::json t{{"instance", "fork-src"}, {"name", "fork-tpl"}};
            must(client->request("POST", "/templates", t.dump()), 201, "create template");
        }
        std::vector<std::string> names;
        for (int i = 0; i < n; ++i) {
            std::string name = kind + "-" + std::to_string(i);
            // An instance fork keeps its source's state (Standby) unless told otherwise.
            nlohmann::json body{{"name", name}, {"target_state", "running"}};
            std::string path = kind == "template-fork" ? "/templates/fork-tpl/fork" : "/instances/fork-src/fork";
            auto t = Clock::now();
            must(client->request("POST", path, body.dump(), 120'000), 201, "fork");
            report.add("broodd-" + kind, "fork_to_running", "ms", params, ms_since(t));
            names.push_back(name);
        }
        // Each fork reads the touched memory back, so its pages get mapped.
        nlohmann::json verify{{"input", "verify 64 1"}, {"until", "pages="}, {"timeout_ms", 120'000}};
        for (const auto& name : names) {
            auto answer = must(client->request("POST", "/instances/" + name + "/console", verify.dump(), 130'000), 200,
                               "verify");
            if (answer.body.find("ok pages=") == std::string::npos) die("fork " + name + " lost memory: " + answer.body);
        }
        std::vector<pid_t> pids;
        std::vector<std::string> files;
        for (const auto& name : names) {
            auto got = nlohmann::json::parse(must(client->request("GET", "/instances/" + name), 200, "get fork").body);
            pids.push_back(got.value("pid", 0));
            files.push_back(memory_file_of(data_dir, got.value("id", "")));
        }
        // Counted as every bench counts: Pss, plus the memory files' page
        // cache, each page once (support/proc_memory.hpp).
        auto host = bench::read_host_memory(pids, files);
        if (!host) die(host.error().message());
        report.add("broodd-" + kind, "vmm_pss_per_fork", "KiB", params, host->pss_mib * 1024 / n);
        report.add("broodd-" + kind, "host_memory_per_fork", "MiB", params, host->total_mib() / n);
        for (const auto& name : names) must(client->request("DELETE", "/instances/" + name), 204, "delete fork");
    }
    must(client->request("DELETE", "/templates/fork-tpl"), 204, "delete template");
    must(client->request("DELETE", "/instances/fork-src"), 204, "delete fork source");
    report.flush();
}

} // namespace

int main(int argc, char** argv) {
    int get_n = 2'000;
    int cycle_n = 20;
    int fork_n = 10;
    CLI::App app{"bench_api: broodd API overhead versus brood-vmm driven directly"};
    app.add_option("--get-n", get_n, "GET calls per variant")->capture_default_str();
    app.add_option("--cycles", cycle_n, "standby+restore cycles per subject")->capture_default_str();
    app.add_option("--forks", fork_n, "forks per kind (template, instance)")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (!bench::ready_to_run("bench_api")) return 0;
    bench::note_host_load("bench_api");
    auto scratch = bench::ScratchDir::create("bench-api");
    if (!scratch) die(scratch.error().message());
    std::string dir = scratch->path();
    bench::Reporter report("bench_api");
    {
        Broodd daemon;
        start_broodd(daemon, dir);
        auto client = http::Client::connect_unix(daemon.socket);
        if (!client) die("connect broodd");
        nlohmann::json create{{"name", "bench"}, {"kernel", bench::test_guest_path()}, {"memory_mib", 128}};
        auto created = must(client->request("POST", "/instances", create.dump()), 201, "create");
        std::string id = nlohmann::json::parse(created.body)["id"];
        must(client->request("POST", "/instances/" + id + "/start"), 200, "start");
        note("bench_api: GET latency, {} calls per variant", get_n);
        bench_get(report, daemon.socket, id, dir + "/data/guests/" + id + "/control.sock", get_n);
        note("bench_api: standby+restore through broodd, {} cycles", cycle_n);
        bench_standby_restore_daemon(report, daemon.socket, id, cycle_n);
        must(client->request("DELETE", "/instances/" + id), 204, "delete");
        note("bench_api: {} forks from a template and {} instance forks", fork_n, fork_n);
        bench_forks(report, daemon.socket, dir + "/data", fork_n);
    }
    std::string direct = dir + "/direct";
    fs::create_directories(direct);
    note("bench_api: standby+restore driving brood-vmm directly, {} cycles", cycle_n);
    bench_standby_restore_direct(report, direct, cycle_n);
    report.flush();
    return 0;
}
