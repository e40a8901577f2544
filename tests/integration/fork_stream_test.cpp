// A streamed template fan-out ("stream": true): each fork is answered as a
// line as soon as it runs, a failed fork as an error line, then the totals.
#include <chrono>
#include <set>

#include "client/client.hpp"
#include "fork_fixture.hpp"

using namespace brood::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Line {
    json body;
    double arrived_ms; // at the client, from the request's start
};

// Sends a streamed fan-out and records each line with the moment it arrived.
brood::Result<std::vector<Line>> stream_fork(const Daemon& d, const json& request) {
    auto c = TRY(brood::client::Client::connect(d.socket()));
    std::vector<Line> lines;
    auto start = Clock::now();
    TRY(c.fork_template_streaming("tpl", request, [&](const json& line) {
        lines.push_back({line, std::chrono::duration<double, std::milli>(Clock::now() - start).count()});
    }));
    return lines;
}

} // namespace

TEST_F(Forks, AStreamedFanOutAnswersEachForkAsSoonAsItRuns) {
    make_template();
    auto lines = stream_fork(daemon, {{"name_prefix", "s"}, {"count", 4}, {"concurrency", 1}});
    ASSERT_TRUE(lines) << lines.error().message();
    ASSERT_EQ(lines->size(), 5u);
    const Line& done = lines->back();
    EXPECT_EQ(done.body["event"], "done");
    EXPECT_EQ(done.body["made"], 4);
    EXPECT_EQ(done.body["failed"], 0);
    EXPECT_FALSE(done.body.contains("code"));
    double previous = 0;
    std::set<std::string> names;
    for (size_t i = 0; i < 4; ++i) {
        const json& line = (*lines)[i].body;
        EXPECT_EQ(line["event"], "fork") << line.dump();
        EXPECT_EQ(line["instance"]["state"], "Running") << line.dump();
        names.insert(line["instance"].value("name", ""));
        double elapsed = line.value("elapsed_ms", -1.0);
        EXPECT_GE(elapsed, previous) << "lines come in the order the forks finished";
        previous = elapsed;
    }
    EXPECT_EQ(names, (std::set<std::string>{"s-1", "s-2", "s-3", "s-4"}));
    EXPECT_GE(done.body.value("elapsed_ms", -1.0), previous);
    // Streamed, not buffered: the first fork reached the client before the
    // daemon had even finished the last one. (The client's clock started
    // first, so a buffered answer would arrive after the done line's time.)
    EXPECT_LT(lines->front().arrived_ms, done.body.value("elapsed_ms", 0.0))
        << "the first line arrived only after the whole fan-out was done";
    EXPECT_EQ(fork_count(), 4);
    for (const auto& name : names) EXPECT_EQ(daemon.console(name, "count", "count"), "count 2\n") << name;
    expect_consistent(daemon);
}

TEST_F(Forks, AStreamedFanOutReportsEachFailedForkAndTheTotals) {
    make_template();
    ASSERT_EQ(fork_template({{"name", "t-2"}}).size(), 1u);
    auto lines = stream_fork(daemon, {{"name_prefix", "t"}, {"count", 3}});
    ASSERT_TRUE(lines) << lines.error().message();
    ASSERT_EQ(lines->size(), 4u);
    size_t forks = 0, errors = 0;
    for (size_t i = 0; i < 3; ++i) {
        const json& line = (*lines)[i].body;
        if (line["event"] == "fork") ++forks;
        if (line["event"] == "error") {
            ++errors;
            EXPECT_EQ(line["name"], "t-2");
            EXPECT_EQ(line["status"], 409);
            EXPECT_EQ(line["code"], "name_taken");
        }
    }
    EXPECT_EQ(forks, 2u);
    EXPECT_EQ(errors, 1u);
    EXPECT_EQ(lines->back().body["made"], 2);
    EXPECT_EQ(lines->back().body["failed"], 1);
    EXPECT_EQ(fork_count(), 3);
    expect_consistent(daemon);
}

TEST_F(Forks, AStreamedFanOutThatCannotStartIsAnErrorAndMakesNothing) {
    make_template();
    // An unknown template: a plain 404 before any line.
    auto c = brood::client::Client::connect(daemon.socket());
    ASSERT_TRUE(c);
    auto missing = c->fork_template_streaming("nope", {{"name", "x"}}, {});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("404"), std::string::npos) << missing.error().message();
    // A bad "stream" value: 400.
    auto bad = daemon.call("POST", "/templates/tpl/fork", {{"name", "x"}, {"stream", "yes"}});
    EXPECT_EQ(bad.status, 400) << bad.text;
    // A fan-out the source's state refuses: the done line carries the error.
    ASSERT_EQ(daemon.call("POST", "/instances/src/restore").status, 200);
    std::vector<json> lines;
    auto refused = c->fork_template_streaming("tpl", {{"name_prefix", "r"}, {"count", 2}},
                                              [&](const json& line) { lines.push_back(line); });
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("wrong_state"), std::string::npos) << refused.error().message();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["event"], "done");
    EXPECT_EQ(lines[0]["status"], 409);
    EXPECT_EQ(lines[0]["made"], 0);
    EXPECT_EQ(daemon.call("GET", "/instances/r-1").status, 404);
    expect_consistent(daemon);
}
