// The template guard follows the fork count; forks of Standby and Stopped
// instances; concurrent forks and deletes keep the count exact.
#include <atomic>
#include <thread>

#include "fork_fixture.hpp"

using namespace brood;
using namespace brood::manager;
using namespace brood::manager::testing;

namespace {

void expect_conflict(const OpResult<void>& r, const std::string& code, const std::string& words) {
    ASSERT_FALSE(r) << "allowed";
    EXPECT_EQ(r.error().kind, ErrorKind::conflict);
    EXPECT_EQ(r.error().code, code);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
}

template <typename T>
OpResult<void> drop_value(const OpResult<T>& r) {
    if (!r) return tl::unexpected(r.error());
    return {};
}

using TemplateGuard = ForkFixture;
using InstanceFork = ForkFixture;

} // namespace

TEST_F(TemplateGuard, LiveForksRefuseDeletesAndRunsOfTheSource) {
    auto forks = manager->fork_template("tpl", request({"f-1", "f-2"}));
    ASSERT_TRUE(forks);
    ASSERT_EQ(fork_count(), 2u);
    expect_conflict(manager->delete_template("tpl"), "in_use", "in use by 2 live forks");
    expect_conflict(manager->remove("src"), "in_use", "2 live forks");
    expect_conflict(drop_value(manager->restore("src")), "in_use", "2 live forks");
    expect_conflict(drop_value(manager->start("src")), "in_use", "source of template tpl");
    EXPECT_TRUE(live_fake_vmms().empty()) << "the guard let the source's VMM start";

    ASSERT_TRUE(manager->remove("f-1"));
    EXPECT_EQ(fork_count(), 1u);
    expect_conflict(manager->delete_template(template_id), "in_use", "in use by 1 live fork");
    ASSERT_TRUE(manager->remove("f-2"));
    EXPECT_EQ(fork_count(), 0u);
    // No forks: both deletes succeed, template first, then its source.
    EXPECT_TRUE(manager->delete_template("tpl"));
    EXPECT_FALSE(manager->get_template("tpl"));
    EXPECT_TRUE(manager->get("src")) << "deleting a template keeps its source";
    EXPECT_TRUE(manager->remove("src"));
}

TEST_F(TemplateGuard, WithoutForksTheSourceMayRunButItsTemplateCannotFork) {
    std::string canonical = fs::canonical(memory_of(source_id)).string();
    auto restored = manager->restore("src");
    ASSERT_TRUE(restored) << restored.error().message;
    EXPECT_EQ(restored->state, State::running);
    EXPECT_EQ(restored->record.restore_backend, manager::Backend::file);
    // A running source would change under the forks: forking is refused.
    auto refused = manager->fork_template("tpl", request({"f-1"}));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, "wrong_state");
    EXPECT_NE(refused.error().message.find("src is Running, not Standby"), std::string::npos)
        << refused.error().message;
    EXPECT_EQ(fork_count(), 0u);
    EXPECT_EQ(guest_dirs(), std::set<std::string>{source_id});
    EXPECT_TRUE(fs::exists(canonical)) << "the template's memory file stays while its source runs";
    // Deleting the source deletes its template (it held the memory file).
    EXPECT_TRUE(manager->remove("src"));
    EXPECT_FALSE(manager->get_template("tpl"));
    EXPECT_FALSE(fs::exists(data / "templates" / template_id));
    EXPECT_TRUE(live_fake_vmms().empty());
}

TEST_F(TemplateGuard, ATemplateWhoseSourceIsGoneIsDroppedAtStart) {
    // A source delete that died after removing the instance, before its template.
    manager.reset();
    fs::remove_all(data / "guests" / source_id);
    open();
    EXPECT_FALSE(manager->get_template("tpl"));
    EXPECT_FALSE(fs::exists(data / "templates" / template_id));
}

TEST_F(TemplateGuard, PromoteRules) {
    auto again = manager->create_template({"src", "tpl2", {}});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "in_use") << "one template per source";
    write_instance("other", State::standby);
    restart();
    auto taken = manager->create_template({"other", "tpl", {}});
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error().code, "name_taken");
    auto bad = manager->create_template({"other", "Bad", {}});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "bad_request");
    auto t = manager->get_template("tpl");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->source_instance_id, source_id);
    EXPECT_EQ(t->memory_mib, 8u);
    EXPECT_EQ(t->vcpus, 1u);
    EXPECT_EQ(t->hypervisor, "brood-vmm");
    EXPECT_FALSE(t->hypervisor_version.empty());
    EXPECT_EQ(t->tags.at("app"), "test");
    EXPECT_FALSE(t->created_at.empty());
    EXPECT_EQ(t->memory_path, fs::canonical(memory_of(source_id)).string());
    // A fork links the template's file, so it cannot be promoted itself.
    ASSERT_TRUE(manager->fork_template("tpl", request({"f"})));
    auto of_fork = manager->create_template({"f", "tpl3", {}});
    ASSERT_FALSE(of_fork);
    EXPECT_EQ(of_fork.error().code, "wrong_state");
    EXPECT_GE(manager->get_template("tpl")->last_used_at, t->last_used_at);
}

TEST_F(TemplateGuard, ConcurrentForksAndDeletesKeepTheCountExact) {
    auto first = manager->fork_template("tpl", request({"old-1", "old-2", "old-3", "old-4", "old-5", "old-6", "old-7",
                                                        "old-8", "old-9", "old-10"}));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->instances.size(), 10u);
    std::vector<std::thread> threads;
    std::atomic<int> made{0}, deleted{0};
    for (int batch = 0; batch < 4; ++batch)
        threads.emplace_back([&, batch] {
            std::vector<std::string> names;
            for (int i = 0; i < 5; ++i) names.push_back("new-" + std::to_string(batch) + "-" + std::to_string(i));
            auto r = manager->fork_template("tpl", request(names, State::standby, 3));
            if (r) made += static_cast<int>(r->instances.size());
        });
    for (int i = 1; i <= 10; ++i)
        threads.emplace_back([&, i] {
            if (manager->remove("old-" + std::to_string(i))) ++deleted;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(made.load(), 20);
    EXPECT_EQ(deleted.load(), 10);
    EXPECT_EQ(live_forks(), 20u);
    EXPECT_EQ(fork_count(), 20u);
    EXPECT_EQ(fork_count_on_disk(), 20u);
    restart();
    EXPECT_EQ(fork_count(), 20u);
}

TEST_F(InstanceFork, StandbySourceCopiesItsSnapshotAndKeepsItsState) {
    write_instance("sb", State::standby);
    restart();
    auto sb = manager->get("sb");
    auto outcome = manager->fork_instance("sb", request({"sb-copy"}, std::nullopt));
    ASSERT_TRUE(outcome) << outcome.error().message;
    ASSERT_EQ(outcome->instances.size(), 1u);
    const InstanceView& fork = outcome->instances[0];
    EXPECT_EQ(fork.state, State::standby) << "default target: the source's state";
    EXPECT_NE(fork.record.id, sb->record.id);
    EXPECT_EQ(fork.record.source_instance_id, sb->record.id);
    EXPECT_TRUE(fork.record.template_id.empty());
    EXPECT_FALSE(is_link(memory_of(fork.record.id))) << "an instance fork owns a copy of the memory";
    EXPECT_EQ(fs::file_size(memory_of(fork.record.id)), 8u << 20);
    EXPECT_FALSE(fs::exists(data / "guests" / fork.record.id / "logs/serial.log")) << "logs are never copied";
    EXPECT_EQ(manager->get("sb")->state, State::standby);
    // To Stopped: no snapshot at all, it boots fresh when started.
    auto stopped = manager->fork_instance("sb", request({"sb-cold"}, State::stopped));
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->instances.at(0).state, State::stopped);
    EXPECT_FALSE(fs::exists(data / "guests" / stopped->instances[0].record.id / "snapshots"));
}

TEST_F(InstanceFork, StoppedSourceGivesAStoppedForkThatBootsFresh) {
    write_instance("cold", State::stopped);
    restart();
    auto outcome = manager->fork_instance("cold", request({"cold-copy"}, std::nullopt));
    ASSERT_TRUE(outcome) << outcome.error().message;
    EXPECT_EQ(outcome->instances.at(0).state, State::stopped);
    auto standby = manager->fork_instance("cold", request({"cold-sb"}, State::standby));
    ASSERT_FALSE(standby);
    EXPECT_EQ(standby.error().code, "wrong_state");
    auto running = manager->fork_instance("cold", request({"cold-run"}, State::running));
    ASSERT_TRUE(running) << running.error().message;
    ASSERT_TRUE(running->errors.empty()) << running->errors[0].error.message;
    EXPECT_EQ(running->instances.at(0).state, State::running);
    EXPECT_EQ(live_fake_vmms().size(), 1u);
    EXPECT_TRUE(manager->remove("cold-run"));
}

TEST_F(InstanceFork, ARunningSourceNeedsFromRunning) {
    ASSERT_TRUE(manager->delete_template("tpl"));
    ASSERT_TRUE(manager->restore("src"));
    auto refused = manager->fork_instance("src", request({"copy"}, std::nullopt));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, "wrong_state");
    EXPECT_NE(refused.error().message.find("from_running"), std::string::npos);
    EXPECT_EQ(guest_dirs(), std::set<std::string>{source_id});
}

TEST_F(InstanceFork, AForkOfATemplateForkLinksAndCountsForTheTemplate) {
    ASSERT_TRUE(manager->fork_template("tpl", request({"t-1"})));
    auto outcome = manager->fork_instance("t-1", request({"t-1-copy"}, std::nullopt));
    ASSERT_TRUE(outcome) << outcome.error().message;
    const auto& copy = outcome->instances.at(0);
    EXPECT_EQ(copy.record.template_id, template_id);
    EXPECT_TRUE(is_link(memory_of(copy.record.id)));
    EXPECT_EQ(fs::canonical(memory_of(copy.record.id)), fs::canonical(memory_of(source_id)));
    EXPECT_EQ(fork_count(), 2u);
    ASSERT_TRUE(manager->remove("t-1"));
    EXPECT_EQ(fork_count(), 1u);
    expect_conflict(manager->delete_template("tpl"), "in_use", "1 live fork");
    ASSERT_TRUE(manager->remove("t-1-copy"));
    EXPECT_EQ(fork_count(), 0u);
}

TEST_F(InstanceFork, NameTakenAndUnknownSourcesChangeNothing) {
    auto before = guest_dirs();
    auto taken = manager->fork_template("tpl", request({"src"}));
    ASSERT_TRUE(taken);
    ASSERT_EQ(taken->errors.size(), 1u);
    EXPECT_EQ(taken->errors[0].error.code, "name_taken");
    EXPECT_FALSE(manager->fork_instance("ghost", request({"x"})));
    EXPECT_EQ(manager->fork_template("ghost", request({"x"})).error().code, "not_found");
    EXPECT_EQ(guest_dirs(), before);
    EXPECT_EQ(fork_count(), 0u);
}
