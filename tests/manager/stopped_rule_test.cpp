// A Stopped instance has no snapshot and names no template: stop, a cold
// start, a fork to Stopped and the daemon's start all keep it so, and the
// template's fork count follows.
#include "fork_fixture.hpp"

using namespace brood;
using namespace brood::manager;
using namespace brood::manager::testing;

namespace {

using StoppedRule = ForkFixture;

} // namespace

TEST_F(StoppedRule, StopDropsTheSnapshotAndReleasesTheTemplate) {
    auto forks = manager->fork_template("tpl", request({"f", "keep"}, State::running));
    ASSERT_TRUE(forks && forks->errors.empty());
    ASSERT_EQ(fork_count(), 2u);
    std::string f_id = forks->instances.at(0).record.id;
    ASSERT_TRUE(is_link(memory_of(f_id)));
    auto stopped = manager->stop("f", 100);
    ASSERT_TRUE(stopped) << stopped.error().message;
    EXPECT_EQ(stopped->state, State::stopped);
    EXPECT_FALSE(stopped->facts.snapshot_present);
    EXPECT_TRUE(stopped->record.template_id.empty());
    EXPECT_FALSE(fs::exists(data / "guests" / f_id / "snapshots"));
    EXPECT_EQ(fork_count(), 1u);
    EXPECT_EQ(fork_count_on_disk(), 1u);
    EXPECT_EQ(live_forks(), 1u);
    // Its fork has nothing of the template either.
    auto g = manager->fork_instance("f", request({"g"}, State::running));
    ASSERT_TRUE(g && g->errors.empty());
    EXPECT_TRUE(g->instances.at(0).record.template_id.empty());
    EXPECT_FALSE(fs::exists(data / "guests" / g->instances[0].record.id / "snapshots"));
    EXPECT_EQ(fork_count(), 1u);
    restart();
    EXPECT_EQ(fork_count(), 1u);
    EXPECT_EQ(live_forks(), 1u);
    // Deleting the Stopped fork does not count it down a second time.
    ASSERT_TRUE(manager->remove("f"));
    EXPECT_EQ(fork_count(), 1u);
    ASSERT_TRUE(manager->remove("keep"));
    EXPECT_EQ(fork_count(), 0u);
}

TEST_F(StoppedRule, ATemplateForkToStoppedNamesNoTemplate) {
    auto cold = manager->fork_template("tpl", request({"cold"}, State::stopped));
    ASSERT_TRUE(cold && cold->errors.empty());
    EXPECT_TRUE(cold->instances.at(0).record.template_id.empty());
    EXPECT_EQ(fork_count(), 0u);
    EXPECT_TRUE(manager->delete_template("tpl")) << "no live forks";
}

TEST_F(StoppedRule, ColdStartOfAFailedTemplateForkReleasesTheTemplate) {
    auto forks = manager->fork_template("tpl", request({"f"}, State::running));
    ASSERT_TRUE(forks && forks->errors.empty());
    pid_t pid = forks->instances.at(0).pid;
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGKILL);
    for (int i = 0; i < 500 && manager->get("f")->state != State::failed; ++i) ::usleep(10'000);
    ASSERT_EQ(manager->get("f")->state, State::failed);
    EXPECT_EQ(fork_count(), 1u) << "a Failed fork keeps its snapshot link";
    auto started = manager->start("f");
    ASSERT_TRUE(started) << started.error().message;
    EXPECT_TRUE(started->record.template_id.empty());
    EXPECT_FALSE(is_link(memory_of(started->record.id)));
    EXPECT_EQ(fork_count(), 0u);
}

TEST_F(StoppedRule, DaemonStartDropsALeftoverSnapshotOfAStoppedInstance) {
    // As a stop that died between its record and its files leaves it (or an
    // older daemon did): Stopped, still naming the template, with its link.
    std::string id = write_instance("old", State::standby);
    manager.reset();
    auto record = load_record((data / "guests" / id / "metadata.json").string());
    ASSERT_TRUE(record);
    record->state = State::stopped;
    record->template_id = template_id;
    ASSERT_TRUE(save_record((data / "guests" / id / "metadata.json").string(), *record));
    fs::create_directories(data / "guests" / id / "snapshots" / ".deleting-0123456789abcdef");
    open();
    auto view = manager->get("old");
    ASSERT_TRUE(view);
    EXPECT_EQ(view->state, State::stopped);
    EXPECT_FALSE(view->facts.snapshot_present);
    EXPECT_TRUE(view->record.template_id.empty());
    EXPECT_FALSE(fs::exists(data / "guests" / id / "snapshots"));
    EXPECT_EQ(fork_count(), 0u);
    EXPECT_EQ(fork_count_on_disk(), 0u);
}
