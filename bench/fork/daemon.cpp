// broodd in a scratch directory, and its API as the benches use it.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "fork/fork.hpp"

namespace brood::bench::fork {

Result<Api> Api::connect(const std::string& socket) {
    auto client = TRY_CTX(http::Client::connect_unix(socket), "connect to broodd");
    return Api(std::move(client));
}

Result<nlohmann::json> Api::call(const std::string& method, const std::string& path, const nlohmann::json& body,
                                 int timeout_ms) {
    std::string text = body.is_null() ? "" : body.dump();
    auto r = TRY_CTX(_client.request(method, path, text, timeout_ms), fmt::format("{} {}", method, path));
    if (r.status / 100 != 2) return fail(fmt::format("{} {}: HTTP {} {}", method, path, r.status, r.body));
    if (r.body.empty()) return nlohmann::json();
    try {
        return nlohmann::json::parse(r.body);
    } catch (const nlohmann::json::exception& e) {
        return fail(fmt::format("{} {}: bad JSON \"{}\": {}", method, path, r.body, e.what()));
    }
}

Result<std::vector<nlohmann::json>> fork_answer_instances(const nlohmann::json& answer) {
    std::vector<nlohmann::json> instances;
    if (answer.is_array()) {
        instances.assign(answer.begin(), answer.end());
    } else if (answer.is_object() && answer.contains("instances")) {
        if (answer.contains("errors") && answer["errors"].is_array() && !answer["errors"].empty())
            return fail(fmt::format("fork: {} of the forks failed: {}", answer["errors"].size(),
                                    answer["errors"].front().dump()));
        instances.assign(answer["instances"].begin(), answer["instances"].end());
    } else if (answer.is_object() && answer.contains("id")) {
        instances.push_back(answer);
    } else {
        return fail(fmt::format("fork: unexpected answer {}", answer.dump()));
    }
    return instances;
}

Result<void> parallel_calls(const std::string& socket, size_t n, size_t threads,
                            const std::function<Result<void>(size_t, Api&)>& fn) {
    std::atomic<size_t> next{0};
    std::mutex mutex;
    std::optional<Error> first_error;
    auto worker = [&] {
        auto api = Api::connect(socket);
        if (!api) {
            std::lock_guard lock(mutex);
            if (!first_error) first_error = api.error();
            return;
        }
        for (size_t i; (i = next.fetch_add(1)) < n;) {
            if (auto done = fn(i, *api); !done) {
                std::lock_guard lock(mutex);
                if (!first_error) first_error = done.error();
                next = n; // stop handing out work
                return;
            }
        }
    };
    std::vector<std::thread> pool;
    for (size_t t = 0; t < std::min(n, std::max<size_t>(threads, 1)); ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    if (first_error) return fail(std::move(*first_error));
    return {};
}

std::string broodd_path() {
    const char* env = std::getenv("BROOD_BROODD");
    return env && *env ? env : BROOD_BENCH_BROODD;
}

Result<Daemon> Daemon::start(const std::string& dir, const std::vector<std::string>& extra_args) {
    std::string socket = dir + "/brood.sock";
    std::string data = dir + "/data";
    std::vector<std::string> argv{broodd_path(), "--data-dir", data, "--socket", socket, "--vmm", vmm_path()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    SpawnOptions options;
    options.stdin_pipe = false;
    options.stdout_pipe = false;
    options.stderr_path = dir + "/broodd.log";
    auto child = TRY(Child::spawn(argv, options));
    for (auto deadline = deadline_in(Millis(10'000)); Clock::now() < deadline;) {
        if (auto api = Api::connect(socket); api && api->call("GET", "/version")) return Daemon(std::move(child), socket, data);
        if (auto exited = child.wait_exit(Clock::now()); exited)
            return fail(fmt::format("broodd exited with {}: {}", *exited, child.stderr_tail()));
        std::this_thread::sleep_for(Millis(10));
    }
    return fail("broodd did not answer within 10 s: " + child.stderr_tail());
}

std::optional<ConcurrencyOption> find_concurrency_option() {
    SpawnOptions options;
    options.stdin_pipe = false;
    auto child = Child::spawn({broodd_path(), "--help"}, options);
    if (!child) return std::nullopt;
    // CLI11's help: "  --flag TYPE[:CHECK]=DEFAULT" then, on the same or
    // the next lines, the description. Group each option with its description.
    struct Entry {
        std::string head, text;
    };
    std::vector<Entry> entries;
    auto deadline = deadline_in(Millis(5'000));
    for (auto line = child->out().next_line(deadline); line; line = child->out().next_line(deadline)) {
        const std::string& text = line->text;
        size_t first = text.find_first_not_of(' ');
        if (first != std::string::npos && text[first] == '-') entries.push_back({text, text});
        else if (!entries.empty()) entries.back().text += " " + text;
    }
    (void)child->wait_exit(deadline_in(Millis(1'000)));
    static const std::regex flag(R"(--[a-z0-9-]+)");
    static const std::regex default_value(R"(=(\d+)\s*$)");
    for (const auto& entry : entries) {
        std::string lower = entry.text;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower.find("concurren") == std::string::npos && lower.find("parallel") == std::string::npos) continue;
        std::smatch m;
        if (!std::regex_search(entry.head, m, flag)) continue;
        ConcurrencyOption option{m[0].str(), 0};
        // The head ends with "=DEFAULT", or with "=DEFAULT  description" when both fit on one line.
        std::string head = entry.head.substr(0, entry.head.find("  ", entry.head.find_first_not_of(' ')));
        if (std::regex_search(head, m, default_value)) option.default_value = static_cast<unsigned>(std::stoul(m[1].str()));
        return option;
    }
    return std::nullopt;
}

} // namespace brood::bench::fork
