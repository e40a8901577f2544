// brood's two subjects, both driven through broodd's API: template forks
// (one fan-out call; every fork maps the template's memory file) and
// instance forks of the same Standby source (each copies the memory file).
#include <filesystem>

#include <fmt/format.h>

#include "fork/fork.hpp"

namespace brood::bench::fork {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// More threads than this only queue on 2 host cores; broodd serves each
// connection on its own thread.
constexpr size_t kPingThreads = 16;
constexpr size_t kDeleteThreads = 4;

std::string memory_file_of(const std::string& data_dir, const std::string& id) {
    std::error_code ec;
    auto path = fs::canonical(fmt::format("{}/guests/{}/snapshots/snapshot-latest/memory", data_dir, id), ec);
    return ec ? std::string() : path.string();
}

// `ping` through the console API; the time it answered.
Result<Clock::time_point> ping(Api& api, const std::string& id) {
    json body{{"input", "ping"}, {"until", "pong"}, {"timeout_ms", 10'000}};
    auto answer = TRY(api.call("POST", "/instances/" + id + "/console", body, 15'000));
    auto at = Clock::now();
    if (answer.value("output", "").find("pong") == std::string::npos)
        return fail(fmt::format("fork {} answered \"{}\" to ping", id, answer.dump()));
    return at;
}

// The pid of a fork's VMM: from the fork answer, else asked.
Result<pid_t> vmm_pid(Api& api, const json& instance) {
    if (instance.contains("pid") && instance["pid"].is_number_integer()) return instance["pid"].get<pid_t>();
    auto fresh = TRY(api.call("GET", "/instances/" + instance.value("id", "")));
    if (!fresh.contains("pid") || !fresh["pid"].is_number_integer())
        return fail(fmt::format("fork {} has no VMM pid: {}", fresh.value("name", "?"), fresh.dump()));
    return fresh["pid"].get<pid_t>();
}

void resize(Fanout& f, size_t n) {
    f.ready_ms.resize(n);
    f.pids.resize(n);
    f.ids.resize(n);
    f.memory_files.resize(n);
}

} // namespace

Result<Source> prepare_source(const Daemon& daemon, const Config& config) {
    auto api = TRY(Api::connect(daemon.socket()));
    json create{{"name", "fork-source"},
                {"kernel", test_guest_path()},
                {"memory_mib", config.memory_mib},
                {"vcpus", 1}};
    Source source;
    source.instance_id = TRY(api.call("POST", "/instances", create)).value("id", "");
    TRY(api.call("POST", "/instances/" + source.instance_id + "/start"));
    json touch{{"input", fmt::format("touch {} 1", config.touch_mib)}, {"until", "touched"}, {"timeout_ms", 120'000}};
    auto touched = TRY(api.call("POST", "/instances/" + source.instance_id + "/console", touch, 130'000));
    if (touched.value("output", "").find("touched pages=") == std::string::npos)
        return fail("the source did not touch its memory: " + touched.dump());
    TRY(api.call("POST", "/instances/" + source.instance_id + "/standby"));
    json promote{{"instance", source.instance_id}, {"name", "fork-template"}};
    source.template_id = TRY(api.call("POST", "/templates", promote)).value("id", "");
    source.memory_file = memory_file_of(daemon.data_dir(), source.instance_id);
    if (source.memory_file.empty()) return fail("the template's memory file is missing");
    return source;
}

Result<Fanout> template_fanout(const Daemon& daemon, const Source& source, unsigned n, unsigned run,
                               const Config& config) {
    auto api = TRY(Api::connect(daemon.socket()));
    json body{{"target_state", "Running"}};
    std::string prefix = fmt::format("t{}-{}", n, run);
    if (n == 1) body["name"] = prefix;
    else body["name_prefix"] = prefix, body["count"] = n;
    auto t0 = Clock::now();
    auto answer = TRY(api.fork_template(source.template_id, body, static_cast<int>(config.timeout.count()) * 4));
    auto returned = Clock::now();
    auto instances = TRY(answer.all());
    if (instances.size() != n) return fail(fmt::format("asked for {} forks, got {}", n, instances.size()));
    Fanout f;
    f.call_ms.push_back(ms_between(t0, returned));
    resize(f, n);
    auto ping_one = [&](size_t i, Api& conn) -> Result<void> {
        f.ids[i] = instances[i].value("id", "");
        auto pong = TRY(ping(conn, f.ids[i]));
        f.ready_ms[i] = ms_between(t0, pong);
        f.pids[i] = TRY(vmm_pid(conn, instances[i]));
        f.memory_files[i] = memory_file_of(daemon.data_dir(), f.ids[i]);
        return {};
    };
    TRY(client::in_parallel(daemon.socket(), n, kPingThreads, ping_one));
    f.all_ready_ms = *std::max_element(f.ready_ms.begin(), f.ready_ms.end());
    return f;
}

Result<Fanout> copy_fanout(const Daemon& daemon, const Source& source, unsigned n, unsigned run,
                           unsigned concurrency, const Config& config) {
    Fanout f;
    resize(f, n);
    f.call_ms.resize(n);
    auto t0 = Clock::now();
    auto fork_one = [&](size_t i, Api& conn) -> Result<void> {
        json body{{"name", fmt::format("c{}-{}-{}", n, run, i + 1)}, {"target_state", "Running"}};
        auto begin = Clock::now();
        auto instance = TRY(conn.call("POST", "/instances/" + source.instance_id + "/fork", body,
                                      static_cast<int>(config.timeout.count()) * 4));
        f.call_ms[i] = ms_between(begin, Clock::now());
        f.ids[i] = instance.value("id", "");
        auto pong = TRY(ping(conn, f.ids[i]));
        f.ready_ms[i] = ms_between(t0, pong);
        f.pids[i] = TRY(vmm_pid(conn, instance));
        f.memory_files[i] = memory_file_of(daemon.data_dir(), f.ids[i]);
        return {};
    };
    TRY(client::in_parallel(daemon.socket(), n, concurrency, fork_one));
    f.all_ready_ms = *std::max_element(f.ready_ms.begin(), f.ready_ms.end());
    return f;
}

Result<void> delete_forks(const Daemon& daemon, const Fanout& fanout) {
    return client::in_parallel(daemon.socket(), fanout.ids.size(), kDeleteThreads, [&](size_t i, Api& conn) -> Result<void> {
        if (fanout.ids[i].empty()) return {};
        TRY(conn.call("DELETE", "/instances/" + fanout.ids[i]));
        return {};
    });
}

} // namespace brood::bench::fork
