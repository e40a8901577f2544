// Snapshot and restore of the test guest: state survives, memory backends
// behave, forks of one snapshot stay independent, chains work.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"
#include "vmm/arch/x86_64/layout.hpp"

namespace brood::test {
namespace {

using SnapshotTest = KvmTest;

TEST_F(SnapshotTest, RestoreWithEachBackendKeepsMemoryAndCounter) {
    auto vm = boot_guest(256, 1, subdir("source"));
    std::string touched = ask(vm, "touch 64 11", "touched");
    ask(vm, "count", "count 1");
    ask(vm, "count", "count 2");
    auto snap = take_snapshot(vm, path("state"), path("memory"));
    ASSERT_TRUE(snap) << snap.error().message();
    vm.kill_now();

    for (std::string backend : {"copy", "file"}) {
        SCOPED_TRACE(backend);
        auto restored = restore(path("state"), path("memory"), backend, subdir("r-" + backend));
        ASSERT_TRUE(restored) << restored.error().message();
        std::string ok = ask(*restored, "verify 64 11", "pages=");
        EXPECT_EQ(ok, "ok" + touched.substr(touched.find(' ')));
        EXPECT_EQ(ask(*restored, "count", "count "), "count 3");
        EXPECT_EQ(ask(*restored, "ping", "pong"), "pong");
    }
}

TEST_F(SnapshotTest, MemoryFileIsSparse) {
    auto vm = boot_guest(1024, 1, subdir("source"));
    ask(vm, "touch 32 3", "touched");
    auto snap = take_snapshot(vm, path("state"), path("memory"));
    ASSERT_TRUE(snap) << snap.error().message();
    struct stat st{};
    ASSERT_EQ(::stat(path("memory").c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), 1024ull << 20);
    uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
    EXPECT_GE(allocated, 32ull << 20);
    EXPECT_LT(allocated, 48ull << 20) << "zero pages should be holes";
}

TEST_F(SnapshotTest, ThreeRestoresOfOneSnapshotStayIndependent) {
    auto vm = boot_guest(256, 1, subdir("source"));
    ask(vm, "touch 32 1", "touched");
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    std::string before = file_digest(path("memory"));

    std::vector<VmProcess> forks;
    for (int i = 0; i < 3; ++i) {
        auto r = restore(path("state"), path("memory"), "file", subdir("fork" + std::to_string(i)));
        ASSERT_TRUE(r) << r.error().message();
        forks.push_back(std::move(*r));
    }
    for (int i = 0; i < 3; ++i) ask(forks[i], "touch 32 " + std::to_string(100 + i), "touched");
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(ask(forks[i], "verify 32 " + std::to_string(100 + i), "pages=").starts_with("ok "));
        EXPECT_EQ(ask(forks[i], "count", "count "), "count 1");
    }
    EXPECT_EQ(file_digest(path("memory")), before) << "a restored VM wrote into the shared memory file";
}

TEST_F(SnapshotTest, TimersAndInterruptsSurviveRestore) {
    auto vm = boot_guest(128, 1, subdir("source"));
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    auto r = restore(path("state"), path("memory"), "file", subdir("restored"));
    ASSERT_TRUE(r) << r.error().message();
    auto start = Clock::now();
    EXPECT_EQ(ask(*r, "sleep 300", "slept"), "slept ms=300");
    auto took = std::chrono::duration_cast<Millis>(Clock::now() - start).count();
    EXPECT_GE(took, 300);
    EXPECT_LT(took, 1300);
}

// Snapshots taken while the guest prints without pause, each restored and
// snapshotted again: the output of every generation joins into exactly what
// the guest meant to print. A vCPU saved right after an I/O exit, before
// KVM finished the instruction, would send a byte again after its restore.
TEST_F(SnapshotTest, OutputPrintedAcrossSnapshotsJoinsWithoutASeam) {
    constexpr int kGenerations = 8;
    auto vm = boot_guest(128, 1, subdir("gen0"));
    ASSERT_TRUE(vm.send_line("lines 1000000"));
    std::string printed;
    for (int gen = 1; gen <= kGenerations; ++gen) {
        ASSERT_TRUE(vm.wait_for("0123456789\n", Millis(30'000))) << "generation " << gen << " printed nothing";
        const std::string n = std::to_string(gen);
        auto snap = take_snapshot(vm, path("state" + n), path("memory" + n));
        ASSERT_TRUE(snap) << snap.error().message();
        ASSERT_TRUE(vm.api("PUT", "/vm/shutdown", R"({"force": true})"));
        ASSERT_EQ(vm.wait_exit(), 0); // its serial log is complete
        printed += vm.all_output();
        auto next = restore(path("state" + n), path("memory" + n), "file", subdir("gen" + n));
        ASSERT_TRUE(next) << next.error().message();
        vm = std::move(*next);
        std::filesystem::remove(path("memory" + n)); // the restore keeps its mapping; the disk space goes
    }
    ASSERT_TRUE(vm.wait_for("0123456789\n", Millis(30'000)));
    ASSERT_TRUE(vm.api("PUT", "/vm/shutdown", R"({"force": true})"));
    ASSERT_EQ(vm.wait_exit(), 0);
    printed += vm.all_output();

    size_t from = printed.find("line 1 ");
    size_t to = printed.rfind('\n');
    ASSERT_NE(from, std::string::npos) << printed;
    std::string got = printed.substr(from, to + 1 - from);
    std::string want;
    for (int i = 1; want.size() < got.size(); ++i)
        want += "line " + std::to_string(i) + " abcdefghijklmnopqrstuvwxyz0123456789\n";
    want.resize(got.size());
    if (got != want) {
        size_t at = std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin();
        size_t from_byte = at < 50 ? 0 : at - 50;
        FAIL() << "the output differs at byte " << at << " of " << got.size() << " (shown from byte " << from_byte
               << "):\n  got:  " << got.substr(from_byte, 100) << "\n  want: " << want.substr(from_byte, 100);
    }
    EXPECT_GT(std::count(got.begin(), got.end(), '\n'), kGenerations);
}

TEST_F(SnapshotTest, FourVcpusAllAliveAfterRestore) {
    auto vm = boot_guest(128, 4, subdir("source"));
    ASSERT_EQ(ask(vm, "cpus", "cpus online="), "cpus online=4 ids=0,1,2,3");
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    auto r = restore(path("state"), path("memory"), "file", subdir("restored"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(ask(*r, "cpus", "cpus online="), "cpus online=4 ids=0,1,2,3");
}

TEST_F(SnapshotTest, RestorePausedWaitsForResume) {
    auto vm = boot_guest(128, 1, subdir("source"));
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    auto r = restore(path("state"), path("memory"), "file", subdir("restored"), {"--paused"});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(nlohmann::json::parse(r->api("GET", "/vm")->body)["state"], "paused");
    ASSERT_TRUE(r->send_line("ping"));
    EXPECT_FALSE(r->wait_for("pong", Millis(300)));
    ASSERT_EQ(r->api("PUT", "/vm/resume")->status, 204);
    EXPECT_TRUE(r->wait_for("pong", Millis(5000)));
}

TEST_F(SnapshotTest, FullAndDiffChains) {
    auto vm = boot_guest(256, 2, subdir("gen0"));
    ask(vm, "touch 16 1", "touched");
    ASSERT_TRUE(take_snapshot(vm, path("state0"), path("memory0")));
    vm.kill_now();
    std::string base_digest = file_digest(path("memory0"));

    // gen1: restored from a file, writes more, diff snapshot on a copy of memory0.
    auto gen1 = restore(path("state0"), path("memory0"), "file", subdir("gen1"));
    ASSERT_TRUE(gen1) << gen1.error().message();
    ask(*gen1, "touch 8 2", "touched"); // overwrites the first 8 MiB
    ask(*gen1, "count", "count 1");
    auto diff = take_snapshot(*gen1, path("state1"), path("memory1"), true);
    ASSERT_TRUE(diff) << diff.error().message();
    EXPECT_TRUE((*diff)["diff"].get<bool>());
    EXPECT_LE((*diff)["bytes_written"].get<uint64_t>(), 9ull << 20) << "a diff writes only dirtied pages";
    gen1->kill_now();
    EXPECT_EQ(file_digest(path("memory0")), base_digest);

    // gen2: copy backend, full snapshot.
    auto gen2 = restore(path("state1"), path("memory1"), "copy", subdir("gen2"));
    ASSERT_TRUE(gen2) << gen2.error().message();
    EXPECT_TRUE(ask(*gen2, "verify 8 2", "pages=").starts_with("ok "));
    EXPECT_EQ(ask(*gen2, "count", "count "), "count 2");
    auto full = take_snapshot(*gen2, path("state2"), path("memory2"));
    ASSERT_TRUE(full) << full.error().message();
    EXPECT_FALSE((*full)["diff"].get<bool>());
    gen2->kill_now();

    // gen3: sees everything from every generation.
    auto gen3 = restore(path("state2"), path("memory2"), "file", subdir("gen3"));
    ASSERT_TRUE(gen3) << gen3.error().message();
    EXPECT_TRUE(ask(*gen3, "verify 8 2", "pages=").starts_with("ok "));
    EXPECT_EQ(ask(*gen3, "count", "count "), "count 3");
    EXPECT_EQ(ask(*gen3, "cpus", "cpus online="), "cpus online=2 ids=0,1");
}

TEST_F(SnapshotTest, DiffSnapshotNeedsFileBackedMemory) {
    auto vm = boot_guest(128, 1, subdir("source"));
    auto diff = take_snapshot(vm, path("state"), path("memory"), true);
    ASSERT_FALSE(diff);
    EXPECT_NE(diff.error().message().find("diff snapshot needs memory restored from a file"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(path("state")));
    EXPECT_FALSE(std::filesystem::exists(path("memory")));
}

TEST_F(SnapshotTest, RefusesToWriteTheMemoryFileItMaps) {
    auto vm = boot_guest(128, 1, subdir("source"));
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    std::string digest = file_digest(path("memory"));
    auto r = restore(path("state"), path("memory"), "file", subdir("restored"));
    ASSERT_TRUE(r);
    auto again = take_snapshot(*r, path("state2"), path("memory"));
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message().find("this VM maps it"), std::string::npos) << again.error().message();
    // The same file under another name (the VM is known by its descriptor,
    // not by the path it was given).
    ASSERT_EQ(::link(path("memory").c_str(), path("memory-hardlink").c_str()), 0);
    auto linked = take_snapshot(*r, path("state3"), path("memory-hardlink"));
    ASSERT_FALSE(linked);
    EXPECT_NE(linked.error().message().find("this VM maps it"), std::string::npos) << linked.error().message();
    EXPECT_EQ(file_digest(path("memory")), digest);
}

TEST_F(SnapshotTest, SnapshotDirectoryIsReplacedAsAPairEvenWhileMapped) {
    auto vm = boot_guest(128, 1, subdir("source"));
    ask(vm, "touch 8 5", "touched");
    ask(vm, "count", "count 1");
    std::string dir = path("snap");
    ASSERT_TRUE(take_snapshot_dir(vm, dir));
    vm.kill_now();

    // A VM restored from the directory (mapping its memory file) snapshots
    // back into it: the new pair replaces the old one, nothing is written in place.
    auto gen1 = restore(dir + "/state", dir + "/memory", "file", subdir("gen1"));
    ASSERT_TRUE(gen1) << gen1.error().message();
    EXPECT_EQ(ask(*gen1, "count", "count "), "count 2");
    ask(*gen1, "touch 4 6", "touched");
    auto diff = take_snapshot_dir(*gen1, dir, true);
    ASSERT_TRUE(diff) << diff.error().message();
    EXPECT_TRUE((*diff)["diff"].get<bool>());
    gen1->kill_now();
    for (const auto& entry : std::filesystem::directory_iterator(path("")))
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
            << entry.path() << ": no staging directory is left";

    auto gen2 = restore(dir + "/state", dir + "/memory", "copy", subdir("gen2"));
    ASSERT_TRUE(gen2) << gen2.error().message();
    EXPECT_TRUE(ask(*gen2, "verify 4 6", "pages=").starts_with("ok "));
    EXPECT_EQ(ask(*gen2, "count", "count "), "count 3");
}

TEST_F(SnapshotTest, SnapshotOfRunningVmIsRefused) {
    auto vm = boot_guest(128, 1, subdir("source"));
    auto r = vm.api("PUT", "/vm/snapshot",
                    nlohmann::json{{"state_path", path("state")}, {"memory_path", path("memory")}}.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 409);
    EXPECT_FALSE(std::filesystem::exists(path("state")));
}

} // namespace
} // namespace brood::test

namespace brood::test {
namespace {

// The 16 bytes of the VM generation ID in a snapshot's memory file (low RAM
// sits at its guest-physical address in the file).
std::string generation_id_in(const std::string& memory) {
    std::ifstream in(memory, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(x86::kVmGenerationIdAddr));
    std::string id(x86::kVmGenerationIdSize, '\0');
    in.read(id.data(), static_cast<std::streamsize>(id.size()));
    return in ? id : std::string();
}

// Every clone of a snapshot gets a VM generation ID of its own, and the
// template's memory file keeps its own.
TEST_F(SnapshotTest, EveryRestoreGetsItsOwnVmGenerationId) {
    auto vm = boot_guest(128, 1, subdir("source"));
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    const std::string booted = generation_id_in(path("memory"));
    ASSERT_EQ(booted.size(), x86::kVmGenerationIdSize);
    EXPECT_NE(booted, std::string(x86::kVmGenerationIdSize, '\0')) << "boot wrote no generation ID";
    std::set<std::string> ids{booted};
    for (int i = 0; i < 2; ++i) {
        const std::string n = std::to_string(i);
        auto r = restore(path("state"), path("memory"), "file", subdir("clone" + n));
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(ask(*r, "ping", "pong"), "pong");
        ASSERT_TRUE(take_snapshot(*r, path("state" + n), path("memory" + n)));
        ids.insert(generation_id_in(path("memory" + n)));
    }
    EXPECT_EQ(ids.size(), 3u) << "two machines share a VM generation ID";
    EXPECT_EQ(generation_id_in(path("memory")), booted) << "a clone wrote into the template's memory file";
}

} // namespace
} // namespace brood::test
