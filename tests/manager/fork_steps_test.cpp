// The fork count as a state machine: a failure injected at every step of a
// fork, and a daemon crash at every step, leave whole forks or none, and a
// count equal to the live forks (docs/development-hosts.md).
#include <sys/wait.h>

#include "common/unique_fd.hpp"
#include "fork_fixture.hpp"

#include <optional>

using namespace brood;
using namespace brood::manager;
using namespace brood::manager::testing;

namespace {

// A fork to Stopped gets no snapshot: no memory link, no template, no count.
bool reached(ForkStep step, State target) {
    if (target == State::stopped) return step != ForkStep::link_memory && step != ForkStep::count && step != ForkStep::boot;
    return step != ForkStep::boot || target == State::running;
}

class ForkSteps : public ForkFixture {
protected:
    // The data directory holds the source and exactly the listed forks.
    void expect_only_whole_forks() {
        std::set<std::string> expected = listed_ids();
        EXPECT_EQ(guest_dirs(), expected) << "a half-made fork's directory is left";
        for (const auto& id : expected) {
            EXPECT_TRUE(fs::exists(data / "guests" / id / "metadata.json")) << id;
            if (id == source_id) continue;
            auto view = manager->get(id);
            ASSERT_TRUE(view);
            if (view->record.template_id.empty() || view->state == State::stopped) continue;
            EXPECT_TRUE(is_link(memory_of(id))) << id;
            EXPECT_EQ(fs::read_symlink(memory_of(id)), fs::canonical(memory_of(source_id)));
        }
        EXPECT_EQ(fork_count(), live_forks());
        EXPECT_EQ(fork_count_on_disk(), live_forks());
    }
};

} // namespace

TEST_F(ForkSteps, FailureAtEveryStepRemovesTheForkAndRestoresTheCount) {
    int round = 0;
    for (State target : {State::standby, State::running, State::stopped}) {
        for (ForkStep step : kForkSteps) {
            SCOPED_TRACE(std::string(to_string(target)) + ", failing at " + std::string(to_string(step)));
            std::string victim = "victim-" + std::to_string(++round);
            fault = [&](ForkStep s, const std::string& name) -> Result<void> {
                if (s == step && name == victim) return fail("injected failure");
                return {};
            };
            std::vector<std::string> names{"a-" + std::to_string(round), victim, "b-" + std::to_string(round)};
            auto outcome = manager->fork_template("tpl", request(names, target, 3));
            ASSERT_TRUE(outcome) << outcome.error().message;
            if (reached(step, target)) {
                ASSERT_EQ(outcome->errors.size(), 1u);
                EXPECT_EQ(outcome->errors[0].name, victim);
                EXPECT_NE(outcome->errors[0].error.message.find(std::string(to_string(step))), std::string::npos)
                    << outcome->errors[0].error.message;
                EXPECT_EQ(outcome->instances.size(), 2u);
                EXPECT_FALSE(manager->get(victim)) << "a failed fork is listed";
            } else {
                EXPECT_TRUE(outcome->errors.empty());
                EXPECT_EQ(outcome->instances.size(), 3u);
            }
            for (const auto& view : outcome->instances) EXPECT_EQ(view.state, target) << view.record.name;
            expect_only_whole_forks();
            EXPECT_EQ(fork_count(), target == State::stopped ? 0u : outcome->instances.size());
            EXPECT_TRUE(live_fake_vmms().size() == (target == State::running ? outcome->instances.size() : 0u))
                << "a failed fork's VMM was left running";

            // The failed fork's name is free again; every fork deletes cleanly.
            fault = nullptr;
            if (!manager->get(victim)) {
                auto again = manager->fork_template("tpl", request({victim}, State::standby));
                ASSERT_TRUE(again);
                EXPECT_TRUE(again->errors.empty()) << again->errors[0].error.message;
            }
            for (const auto& view : manager->list()) {
                if (view.record.id != source_id) {
                    EXPECT_TRUE(manager->remove(view.record.id));
                }
            }
            EXPECT_EQ(fork_count(), 0u);
            EXPECT_TRUE(live_fake_vmms().empty());
        }
    }
    restart();
    expect_only_whole_forks();
    EXPECT_EQ(fork_count(), 0u);
}

// The directory a fork named `name` is being made in (staging or published).
std::optional<fs::path> fork_dir_of(const fs::path& guests, const std::string& name) {
    for (const auto& e : fs::directory_iterator(guests)) {
        auto r = load_record((e.path() / "metadata.json").string());
        if (r && r->name == name) return e.path();
    }
    return std::nullopt;
}

TEST_F(ForkSteps, AFailedForkIsRenamedAwayBeforeItIsRemoved) {
    // Before the publish (staging) and after it (published).
    for (ForkStep step : {ForkStep::sync_files, ForkStep::publish, ForkStep::count, ForkStep::boot}) {
        SCOPED_TRACE(std::string(to_string(step)));
        std::string name = "doomed-" + std::string(to_string(step));
        UniqueFd held;
        fault = [&](ForkStep s, const std::string&) -> Result<void> {
            if (s != step) return {};
            auto dir = fork_dir_of(data / "guests", name);
            if (dir) held = UniqueFd(::open(dir->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            return fail("injected failure");
        };
        auto outcome = manager->fork_template("tpl", request({name}, State::running));
        ASSERT_TRUE(outcome);
        ASSERT_EQ(outcome->errors.size(), 1u);
        ASSERT_TRUE(held) << "the fork's directory exists at this step";
        // The directory we hold was removed under its .deleting- name, never in place.
        std::string where = fs::read_symlink("/proc/self/fd/" + std::to_string(held.get())).string();
        EXPECT_NE(where.find("/.deleting-"), std::string::npos) << where;
        EXPECT_NE(where.find("(deleted)"), std::string::npos) << where;
        for (const auto& dir : guest_dirs()) EXPECT_NE(dir.rfind(".", 0), 0u) << dir << " is left";
        EXPECT_EQ(fork_count(), 0u);
    }
    fault = nullptr;
}

TEST_F(ForkSteps, FailuresAfterTheCountBringItBackDownWithOtherForksLive) {
    ASSERT_TRUE(manager->fork_template("tpl", request({"keep-1", "keep-2"})));
    ASSERT_EQ(fork_count(), 2u);
    for (ForkStep step : {ForkStep::boot, ForkStep::register_fork}) {
        fault = [&](ForkStep s, const std::string&) -> Result<void> {
            if (s == step) return fail("injected failure");
            return {};
        };
        auto outcome = manager->fork_template("tpl", request({"x-1", "x-2", "x-3"}, State::running, 2));
        ASSERT_TRUE(outcome);
        EXPECT_EQ(outcome->errors.size(), 3u);
        EXPECT_TRUE(outcome->instances.empty());
        EXPECT_EQ(fork_count(), 2u) << to_string(step);
        expect_only_whole_forks();
    }
    EXPECT_TRUE(live_fake_vmms().empty());
    restart();
    EXPECT_EQ(fork_count(), 2u);
    expect_only_whole_forks();
}

TEST_F(ForkSteps, CrashAtEveryStepIsRecountedAtRestart) {
    int round = 0;
    for (ForkStep step : kForkSteps) {
        SCOPED_TRACE("crash at " + std::string(to_string(step)));
        std::string name = "crash-" + std::to_string(++round);
        manager.reset(); // the "daemon" is the child below; no threads here while it forks
        pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            fault = [&](ForkStep s, const std::string&) -> Result<void> {
                if (s == step) ::_exit(42); // kill -9 at this step: nothing runs after it
                return {};
            };
            open();
            (void)manager->fork_template("tpl", request({name}, State::running));
            ::_exit(1);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 42);
        fault = nullptr;
        open(); // the restart: reconcile removes half-made forks and recounts
        bool published = step == ForkStep::count || step == ForkStep::boot || step == ForkStep::register_fork;
        EXPECT_EQ(manager->get(name).has_value(), published);
        expect_only_whole_forks();
        if (published) {
            auto view = manager->get(name);
            // Made and counted before the crash; Standby, or Failed when its VMM
            // was started and the daemon died (a VMM this test stands in for).
            EXPECT_TRUE(view->state == State::standby || view->state == State::failed) << to_string(view->state);
            EXPECT_EQ(fork_count(), 1u);
            EXPECT_TRUE(manager->remove(name));
        }
        EXPECT_EQ(fork_count(), 0u);
        kill_fake_vmms();
    }
}

TEST_F(ForkSteps, ARecordedCountThatDriftedIsRecountedAtStart) {
    ASSERT_TRUE(manager->fork_template("tpl", request({"f-1", "f-2", "f-3"})));
    manager.reset();
    auto record = load_template((data / "templates" / template_id / "template.json").string());
    ASSERT_TRUE(record);
    EXPECT_EQ(record->fork_count, 3u);
    record->fork_count = 99;
    ASSERT_TRUE(save_template((data / "templates" / template_id / "template.json").string(), *record));
    open();
    EXPECT_EQ(fork_count(), 3u);
    EXPECT_EQ(fork_count_on_disk(), 3u);
    // A fork deleted behind the daemon's back (its directory gone) is not counted either.
    auto gone = manager->get("f-2");
    ASSERT_TRUE(gone);
    manager.reset();
    fs::remove_all(data / "guests" / gone->record.id);
    open();
    EXPECT_EQ(fork_count(), 2u);
}
