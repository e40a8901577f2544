// bench_agent: what a user of a Linux fork waits for, through broodd: an
// exec round-trip through the guest agent (beside the same command typed
// on the serial console), a template fork until its first exec answers (one fork,
// then ten at once), and the bytes each fork writes to disk (beside a full
// copy of the root image). Linux runs with its root on virtio-blk, so this
// needs a hardware-assisted KVM: the hardware-KVM lane's L1
// (`scripts/hwkvm-lane.sh --bench bench_agent`). JSON lines on stdout,
// "bench":"agent" (docs/benchmarks.md).
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>

#include "client/broodd_process.hpp"
#include "client/client.hpp"
#include "support/clock.hpp"
#include "support/environment.hpp"
#include "support/report.hpp"

namespace {

using namespace brood;
using namespace brood::bench;
using nlohmann::json;

struct Config {
    std::string vmm, broodd, assets, images;
    unsigned execs = 30;       // exec and console round-trips
    unsigned single_forks = 5; // forks of one, each until its first exec
    unsigned fanout = 10;      // forks at once
    uint64_t write_kib = 1024; // what each fork of the fan-out writes to its disk
    json params() const { return {{"memory_mib", 256}, {"vcpus", 1}}; }
};

double ms_since(Clock::time_point t0) { return ms_between(t0, Clock::now()); }

Result<json> exec(client::Client& api, const std::string& id, const std::vector<std::string>& cmd) {
    auto answer = TRY(api.call("POST", "/instances/" + id + "/exec", {{"cmd", cmd}, {"timeout_ms", 60'000}}));
    if (answer.value("exit_code", -1) != 0)
        return fail("exec in " + id + " exited with " + std::to_string(answer.value("exit_code", -1)) + ": " +
                    answer.value("stderr", ""));
    return answer;
}

// Polls exec until the agent answers: a booting guest has no agent yet.
Result<void> wait_for_agent(client::Client& api, const std::string& id, Millis timeout) {
    const auto deadline = deadline_in(timeout);
    for (;;) {
        auto r = TRY(api.request("POST", "/instances/" + id + "/exec", {{"cmd", {"/bin/true"}}}));
        if (r.ok()) return {};
        if (Clock::now() > deadline) return fail("the agent in " + id + " did not answer: " + r.error_message());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

Result<uint64_t> disk_bytes(client::Client& api, const std::string& id) {
    auto record = TRY(api.call("GET", "/instances/" + id));
    uint64_t bytes = 0;
    for (const auto& d : record.value("disks", json::array())) {
        auto size = TRY(file_size(d.value("path", "")));
        bytes += size.allocated;
    }
    return bytes;
}

Result<void> run(const Config& c, const ScratchDir& scratch, Reporter& out) {
    client::LaunchOptions launch;
    launch.broodd = c.broodd;
    launch.vmm = c.vmm;
    launch.dir = scratch / "daemon";
    std::filesystem::create_directories(launch.dir);
    launch.images_dirs = {c.assets, c.images, scratch.path()};
    auto daemon = TRY(client::BrooddProcess::start(launch));
    auto api = TRY(client::Client::connect(daemon.socket()));

    const std::string root = scratch / "root.ext4";
    std::filesystem::copy_file(c.images + "/rootfs.ext4", root);
    TRY(api.call("POST", "/instances",
                 {{"name", "src"},
                  {"kernel", c.assets + "/vmlinux"},
                  {"initrd", c.images + "/initrd-agent.cpio.gz"},
                  {"cmdline", "console=ttyS0 reboot=k panic=-1 root=/dev/vda"},
                  {"memory_mib", 256},
                  {"vcpus", 1},
                  {"disks", json::array({{{"path", root}}})},
                  {"agent", true}}));
    auto t0 = Clock::now();
    TRY(api.call("POST", "/instances/src/start"));
    TRY(wait_for_agent(api, "src", Millis(180'000)));
    note("bench_agent: the agent answered {:.0f} ms after start", ms_since(t0));
    out.add("brood", "boot_to_first_exec", "ms", c.params(), ms_since(t0));

    // The same trivial command, through the agent and typed on the console.
    for (unsigned i = 0; i < c.execs; ++i) {
        t0 = Clock::now();
        TRY(exec(api, "src", {"/bin/true"}));
        out.add("brood", "exec_roundtrip", "ms", c.params(), ms_since(t0));
    }
    for (unsigned i = 0; i < c.execs; ++i) {
        t0 = Clock::now();
        // The shell forks /bin/true as the agent does, then prints 42 (not in the typed line).
        TRY(api.call("POST", "/instances/src/console",
                     {{"input", "/bin/true && echo $((6*7))"}, {"until", "42"}, {"timeout_ms", 30'000}}));
        out.add("brood-console", "exec_roundtrip", "ms", c.params(), ms_since(t0));
    }
    for (unsigned i = 0; i < c.execs / 3 + 1; ++i) {
        t0 = Clock::now();
        auto a = TRY(exec(api, "src", {"/bin/sh", "-c", "head -c 1048576 /dev/zero"}));
        if (a.value("stdout", "").size() != 1048576) return fail("1 MiB of stdout came back short");
        out.add("brood", "exec_1mib_stdout", "ms", c.params(), ms_since(t0));
    }

    TRY(api.call("POST", "/instances/src/standby"));
    TRY(api.call("POST", "/templates", {{"instance", "src"}, {"name", "tpl"}}));
    std::vector<std::string> forks;
    for (unsigned i = 0; i < c.single_forks; ++i) {
        t0 = Clock::now();
        auto answer = TRY(api.fork_template("tpl", {{"name_prefix", "one" + std::to_string(i)}, {"count", 1}}));
        auto made = TRY(answer.all());
        const std::string id = made.at(0).value("id", "");
        const double running = ms_since(t0);
        TRY(exec(api, id, {"/bin/true"}));
        out.add("brood", "fork_to_first_exec", "ms", c.params(), ms_since(t0));
        out.add("brood", "fork_to_running", "ms", c.params(), running);
        forks.push_back(id);
    }

    // A fan-out: every fork's first exec, counted from the fork request.
    t0 = Clock::now();
    auto fan_answer = TRY(api.fork_template("tpl", {{"name_prefix", "fan"}, {"count", c.fanout}}));
    auto fan = TRY(fan_answer.all());
    json fan_params = c.params();
    fan_params["forks"] = c.fanout;
    std::vector<std::string> fan_ids;
    for (const auto& f : fan) fan_ids.push_back(f.value("id", ""));
    std::vector<double> first_exec(fan_ids.size());
    auto answered = client::in_parallel(daemon.socket(), fan_ids.size(), 2, [&](size_t i, client::Client& each) -> Result<void> {
        TRY(exec(each, fan_ids[i], {"/bin/true"}));
        first_exec[i] = ms_since(t0);
        return {};
    });
    TRY(std::move(answered));
    for (double ms : first_exec) out.add("brood", "fanout_first_exec", "ms", fan_params, ms);
    note("bench_agent: {} forks all answered exec {:.0f} ms after the fork request", c.fanout, ms_since(t0));

    // Disk: each fork of the fan-out writes write_kib and syncs; its layer
    // holds what it wrote, a copied fork would hold the whole image.
    json disk_params = c.params();
    disk_params["written_kib"] = c.write_kib;
    const auto image_size = TRY(file_size(root));
    const uint64_t image = image_size.allocated;
    for (const auto& id : fan_ids) {
        const uint64_t idle = TRY(disk_bytes(api, id));
        TRY(exec(api, id, {"/bin/sh", "-c", "head -c " + std::to_string(c.write_kib * 1024) +
                                               " /dev/urandom >/written && sync"}));
        out.add("brood", "disk_bytes_idle_fork", "KiB", c.params(), static_cast<double>(idle) / 1024);
        const uint64_t written = TRY(disk_bytes(api, id));
        out.add("brood", "disk_bytes_per_fork", "KiB", disk_params, static_cast<double>(written) / 1024);
        out.add("copy", "disk_bytes_per_fork", "KiB", disk_params, static_cast<double>(image) / 1024);
    }

    forks.insert(forks.end(), fan_ids.begin(), fan_ids.end());
    for (const auto& id : forks) TRY(api.call("DELETE", "/instances/" + id));
    TRY(api.call("DELETE", "/templates/tpl"));
    TRY(api.call("DELETE", "/instances/src"));
    daemon.stop();
    return {};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_agent: exec, fork-to-first-exec and disk bytes per fork of a Linux guest, through broodd "
                 "(JSON lines on stdout)"};
    Config config;
    app.add_option("--vmm", config.vmm, "brood-vmm")->required();
    app.add_option("--broodd", config.broodd, "broodd")->required();
    app.add_option("--assets", config.assets, "Directory with vmlinux")->required();
    app.add_option("--images", config.images, "Directory with rootfs.ext4 and initrd-agent.cpio.gz")->required();
    app.add_option("--execs", config.execs, "Round-trips per subject")->check(CLI::PositiveNumber);
    app.add_option("--single-forks", config.single_forks, "Forks of one")->check(CLI::PositiveNumber);
    app.add_option("--fanout", config.fanout, "Forks at once")->check(CLI::Range(1, 64));
    app.add_option("--write-kib", config.write_kib, "KiB each fork writes to its disk");
    CLI11_PARSE(app, argc, argv);

    note_host_load("bench_agent");
    auto scratch = ScratchDir::create("bench-agent");
    if (!scratch) {
        note("bench_agent: {}", scratch.error().message());
        return 1;
    }
    Reporter out("agent");
    auto r = run(config, *scratch, out);
    out.flush();
    if (!r) {
        note("bench_agent: {}", r.error().message());
        return 1;
    }
    return 0;
}
