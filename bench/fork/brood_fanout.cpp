// brood's two subjects, both driven through broodd's API: template forks
// (one fan-out call; every fork maps the template's memory file) and
// instance forks of the same Standby source (each copies the memory file).
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

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

// The fan-out is streamed ("stream": true): each fork's line comes as soon
// as that fork runs (its fanout_call), and one of kPingThreads workers pings
// it right then, while the others are still being made.
Result<Fanout> template_fanout(const Daemon& daemon, const Source& source, unsigned n, unsigned run,
                               const Config& config) {
    auto api = TRY(Api::connect(daemon.socket()));
    json body{{"target_state", "Running"}};
    std::string prefix = fmt::format("t{}-{}", n, run);
    if (n == 1) body["name"] = prefix;
    else body["name_prefix"] = prefix, body["count"] = n;
    Fanout f;
    resize(f, n);
    std::mutex mutex;
    std::condition_variable ready_to_ping;
    std::deque<std::pair<size_t, json>> to_ping; // (index, the fork's instance object)
    bool stream_over = false;
    std::optional<Error> first_error;
    auto t0 = Clock::now();
    auto pinger = [&] {
        auto conn = Api::connect(daemon.socket());
        for (;;) {
            std::pair<size_t, json> job;
            {
                std::unique_lock lock(mutex);
                ready_to_ping.wait(lock, [&] { return !to_ping.empty() || stream_over; });
                if (to_ping.empty()) return;
                job = std::move(to_ping.front());
                to_ping.pop_front();
            }
            auto pinged = [&]() -> Result<void> {
                if (!conn) return fail(conn.error());
                size_t i = job.first;
                f.ids[i] = job.second.value("id", "");
                auto pong = TRY(ping(*conn, f.ids[i]));
                f.ready_ms[i] = ms_between(t0, pong);
                f.pids[i] = TRY(vmm_pid(*conn, job.second));
                f.memory_files[i] = memory_file_of(daemon.data_dir(), f.ids[i]);
                return {};
            }();
            std::lock_guard lock(mutex);
            if (!pinged && !first_error) first_error = pinged.error();
        }
    };
    std::vector<std::thread> pool;
    for (size_t t = 0; t < std::min<size_t>(n, kPingThreads); ++t) pool.emplace_back(pinger);
    size_t forks = 0;
    auto answer = api.fork_template_streaming(source.template_id, body, [&](const json& line) {
        if (line.value("event", "") != "fork" || !line.contains("instance")) return;
        std::lock_guard lock(mutex);
        if (forks >= n) return;
        f.call_ms.push_back(ms_between(t0, Clock::now()));
        to_ping.emplace_back(forks++, line["instance"]);
        ready_to_ping.notify_one();
    }, static_cast<int>(config.timeout.count()) * 4);
    {
        std::lock_guard lock(mutex);
        stream_over = true;
    }
    ready_to_ping.notify_all();
    for (auto& t : pool) t.join();
    if (!answer) return fail(answer.error());
    TRY(answer->all()); // a fork that failed fails the fan-out
    if (forks != n) return fail(fmt::format("asked for {} forks, got {}", n, forks));
    if (first_error) return fail(std::move(*first_error));
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
