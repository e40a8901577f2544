#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/read_file.hpp"
#include "manager/atomic_file.hpp"
#include "manager/instance_record.hpp"
#include "manager/layout.hpp"
#include "manager/registry.hpp"
#include "manager/snapshot_files.hpp"
#include "manager/vmm_args.hpp"

using namespace brood::manager;
namespace fs = std::filesystem;

namespace {

class TempDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-mgr-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string dir;
};

InstanceRecord sample() {
    InstanceRecord r;
    r.id = "0123456789abcdef";
    r.name = "web";
    r.kernel = "/k";
    r.memory_mib = 256;
    r.vcpus = 2;
    r.state = State::standby;
    r.pending_op = PendingOp::restore;
    r.last_exit = ExitInfo{4, std::nullopt, "guest crashed", "2026-01-01T00:00:00.000Z"};
    return r;
}

} // namespace

using AtomicFile = TempDir;

TEST_F(AtomicFile, WritesReplacesAndLeavesNoTemporaries) {
    std::string path = dir + "/f.json";
    ASSERT_TRUE(write_file_atomic(path, "one"));
    ASSERT_TRUE(write_file_atomic(path, "two"));
    EXPECT_EQ(read_file(path).value(), "two");
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
    EXPECT_FALSE(write_file_atomic(dir + "/missing-dir/f", "x"));
    EXPECT_FALSE(read_file(dir + "/nope"));
}

using Records = TempDir;

TEST_F(Records, RoundTripThroughDisk) {
    InstanceRecord r = sample();
    ASSERT_TRUE(save_record(dir + "/metadata.json", r));
    auto loaded = load_record(dir + "/metadata.json");
    ASSERT_TRUE(loaded) << loaded.error().message();
    EXPECT_EQ(to_json(*loaded), to_json(r));
    EXPECT_EQ(loaded->last_exit->exit_code, 4);
    EXPECT_FALSE(loaded->last_exit->signal);
}

// The enums of a record keep the strings older daemons wrote.
TEST_F(Records, PendingOpsAndBackendsKeepTheirOnDiskNames) {
    InstanceRecord r = sample();
    r.pending_op = PendingOp::remove;
    r.restore_backend = Backend::copy;
    nlohmann::json j = to_json(r);
    EXPECT_EQ(j["pending_op"], "delete");
    EXPECT_EQ(j["restore_backend"], "copy");
    r.pending_op = PendingOp::none;
    r.restore_backend.reset();
    j = to_json(r);
    EXPECT_EQ(j["pending_op"], "");
    EXPECT_EQ(j["restore_backend"], "");
    for (auto [name, op] : {std::pair{"start", PendingOp::start}, {"stop", PendingOp::stop},
                            {"standby", PendingOp::standby}, {"restore", PendingOp::restore},
                            {"delete", PendingOp::remove}, {"", PendingOp::none}, {"pause", PendingOp::none}}) {
        j["pending_op"] = name;
        EXPECT_EQ(record_from_json(j).pending_op, op) << name;
    }
    j["restore_backend"] = "file";
    EXPECT_EQ(record_from_json(j).restore_backend, Backend::file);
}

TEST_F(Records, MalformedRecordIsAnErrorNotACrash) {
    std::ofstream(dir + "/bad.json") << "{\"id\": 3";
    EXPECT_FALSE(load_record(dir + "/bad.json"));
    std::ofstream(dir + "/state.json") << R"({"id":"x","name":"y","memory_mib":1,"vcpus":1,"state":"Sleeping"})";
    EXPECT_FALSE(load_record(dir + "/state.json"));
}

using Snapshots = TempDir;

TEST_F(Snapshots, InstallReplacesAndRecoverPutsAsideBack) {
    Layout layout(dir);
    std::string id = "0123456789abcdef";
    auto write_snapshot = [&](const std::string& content) {
        auto staged = stage_snapshot_dir(layout, id);
        ASSERT_TRUE(staged);
        std::ofstream(*staged + "/state") << content;
        std::ofstream(*staged + "/memory") << content;
        ASSERT_TRUE(install_snapshot(layout, id, *staged));
    };
    write_snapshot("first");
    write_snapshot("second");
    EXPECT_EQ(read_file(layout.snapshot_state(id)).value(), "second");
    EXPECT_EQ(std::distance(fs::directory_iterator(layout.snapshots_dir(id)), fs::directory_iterator()), 1);

    // A crash between the two renames: snapshot-latest moved aside, staging complete.
    fs::rename(layout.snapshot_dir(id), layout.snapshots_dir(id) + "/.old-1");
    fs::create_directories(layout.snapshots_dir(id) + "/.tmp-2");
    recover_snapshot_dirs(layout, id);
    EXPECT_EQ(read_file(layout.snapshot_state(id)).value(), "second");
    EXPECT_EQ(std::distance(fs::directory_iterator(layout.snapshots_dir(id)), fs::directory_iterator()), 1);
}

TEST_F(Snapshots, FailedInstallKeepsTheOldPairWhole) {
    Layout layout(dir);
    std::string id = "0123456789abcdef";
    auto stage = [&](const std::string& content) {
        auto staged = stage_snapshot_dir(layout, id);
        EXPECT_TRUE(staged);
        std::ofstream(*staged + "/state") << "state-" << content;
        std::ofstream(*staged + "/memory") << "memory-" << content;
        return *staged;
    };
    ASSERT_TRUE(install_snapshot(layout, id, stage("old")));
    std::string staged = stage("new");
    auto failed = install_snapshot(layout, id, staged, [](std::string_view) -> brood::Result<void> {
        return brood::fail("injected failure");
    });
    ASSERT_FALSE(failed);
    EXPECT_EQ(read_file(layout.snapshot_state(id)).value(), "state-old");
    EXPECT_EQ(read_file(layout.snapshot_memory(id)).value(), "memory-old");
    // The daemon's next start drops the staging directory, and the old pair stays.
    recover_snapshot_dirs(layout, id);
    EXPECT_FALSE(fs::exists(staged));
    EXPECT_EQ(read_file(layout.snapshot_state(id)).value(), "state-old");
    EXPECT_EQ(read_file(layout.snapshot_memory(id)).value(), "memory-old");
}

TEST(Registry, NamesAreUniqueAndLookupsUseIdOrName) {
    Registry registry;
    ASSERT_TRUE(registry.reserve_name("web"));
    auto again = registry.reserve_name("web");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "name_taken");
    InstanceRecord r = sample();
    registry.insert(std::make_shared<Instance>(r));
    EXPECT_EQ(registry.find("web")->id, r.id);
    EXPECT_EQ(registry.find(r.id)->id, r.id);
    EXPECT_EQ(registry.find("nope"), nullptr);
    registry.erase(r.id);
    EXPECT_EQ(registry.find("web"), nullptr);
    EXPECT_TRUE(registry.reserve_name("web")) << "a deleted instance frees its name";
    registry.release_name("web");
    EXPECT_TRUE(registry.reserve_name("web"));
}

TEST(VmmArgs, BootAndRestoreCommandLines) {
    Layout layout("/data");
    InstanceRecord r = sample();
    r.initrd = "/i";
    r.cmdline = "console=ttyS0";
    auto boot = *boot_args(layout, r);
    std::vector<std::string> want{"boot", "--kernel", "/k", "--initrd", "/i", "--cmdline", "console=ttyS0",
                                  "--memory-mib", "256", "--vcpus", "2",
                                  "--control-socket", "/data/guests/0123456789abcdef/control.sock",
                                  "--serial-log", "/data/guests/0123456789abcdef/logs/serial.log",
                                  "--serial-socket", "/data/guests/0123456789abcdef/serial.sock"};
    EXPECT_EQ(boot, want);
    auto restore = *restore_args(layout, r, Backend::file);
    EXPECT_EQ(restore[0], "restore");
    EXPECT_EQ(restore[2], "/data/guests/0123456789abcdef/snapshots/snapshot-latest/state");
    EXPECT_EQ(restore[6], "file");
}

TEST(VmmArgs, VsockCidAndSocketAtBootAndRestore) {
    Layout layout("/data");
    InstanceRecord r = sample();
    r.vsock_cid = 42;
    for (const auto& args : {*boot_args(layout, r), *restore_args(layout, r, Backend::file)}) {
        auto cid = std::find(args.begin(), args.end(), "--vsock-cid");
        ASSERT_NE(cid, args.end());
        EXPECT_EQ(*(cid + 1), "42");
        auto sock = std::find(args.begin(), args.end(), "--vsock-socket");
        ASSERT_NE(sock, args.end());
        EXPECT_EQ(*(sock + 1), "/data/guests/0123456789abcdef/vsock.sock");
    }
}

TEST(Registry, VsockCidsAreUniqueAndReused) {
    Registry registry;
    uint32_t a = registry.reserve_cid(), b = registry.reserve_cid();
    EXPECT_EQ(a, 3u) << "the first guest CID";
    EXPECT_EQ(b, 4u);
    InstanceRecord r = sample();
    r.vsock_cid = a;
    registry.insert(std::make_shared<Instance>(r));
    EXPECT_FALSE(registry.cid_free(a));
    registry.release_cid(b);
    EXPECT_EQ(registry.reserve_cid(), 4u) << "a released CID is free again";
    registry.erase(r.id);
    EXPECT_TRUE(registry.cid_free(3));
    EXPECT_EQ(registry.reserve_cid(), 3u) << "a deleted instance frees its CID";
    EXPECT_FALSE(registry.cid_free(0));
    EXPECT_FALSE(registry.cid_free(2));
}

TEST(InstanceRecordJson, VsockCidRoundTripsAndDefaultsToNone) {
    InstanceRecord r = sample();
    r.vsock_cid = 77;
    EXPECT_EQ(record_from_json(to_json(r)).vsock_cid, 77u);
    auto old = to_json(r);
    old.erase("vsock_cid");
    EXPECT_EQ(record_from_json(old).vsock_cid, 0u) << "records from before vsock";
}

TEST(ReadFile, HeadAndTailWithinBounds) {
    const std::string path = "/tmp/brood-read-file." + std::to_string(::getpid());
    {
        std::ofstream out(path);
        out << "first line\nsecond\nlast line\n";
    }
    auto head = brood::read_file(path, 5);
    ASSERT_TRUE(head);
    EXPECT_EQ(*head, "first");
    auto whole = brood::read_file(path);
    ASSERT_TRUE(whole);
    EXPECT_EQ(*whole, "first line\nsecond\nlast line\n");
    auto tail = brood::read_file_tail(path, 10);
    ASSERT_TRUE(tail);
    EXPECT_EQ(*tail, "last line\n");
    std::filesystem::remove(path);
    auto missing = brood::read_file(path);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().errno_value(), ENOENT);
}
