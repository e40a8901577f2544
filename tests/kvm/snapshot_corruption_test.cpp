// Every bad snapshot input is refused with exit code 2 and an error naming
// the problem, and nothing is written.
#include <filesystem>
#include <fstream>

#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

namespace fs = std::filesystem;

class SnapshotCorruptionTest : public KvmTest {
protected:
    void SetUp() override {
        KvmTest::SetUp();
        if (IsSkipped()) return;
        auto vm = boot_guest(128, 2, subdir("source"));
        auto snap = take_snapshot(vm, path("state"), path("memory"));
        ASSERT_TRUE(snap) << snap.error().message();
        vm.kill_now();
        std::ifstream in(path("state"), std::ios::binary);
        _state.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        fs::create_directories(path("out"));
    }

    // Restores from a (possibly mangled) state and memory file and expects a clean refusal.
    void expect_refused(const std::string& state, const std::string& memory, const std::string& needle) {
        auto r = run_vmm({"restore", "--state", state, "--memory", memory, "--control-socket", path("out/control.sock"),
                          "--serial-socket", path("out/serial.sock")});
        EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
        EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
        EXPECT_TRUE(fs::is_empty(path("out"))) << "a refused restore left files behind";
    }

    std::string mangled(const std::string& name, const std::string& bytes) {
        std::ofstream(path(name), std::ios::binary) << bytes;
        return path(name);
    }

    std::string _state;
};

TEST_F(SnapshotCorruptionTest, TruncatedStateFile) {
    expect_refused(mangled("t", _state.substr(0, _state.size() / 2)), path("memory"), "truncated");
    expect_refused(mangled("t2", _state.substr(0, 10)), path("memory"), "truncated");
}

TEST_F(SnapshotCorruptionTest, FlippedByteFailsTheChecksum) {
    std::string bad = _state;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x40);
    expect_refused(mangled("c", bad), path("memory"), "checksum mismatch");
}

TEST_F(SnapshotCorruptionTest, WrongMagic) {
    std::string bad = _state;
    bad[0] = 'X';
    expect_refused(mangled("m", bad), path("memory"), "bad magic");
    expect_refused(mangled("elf", "\x7f" "ELF" + std::string(100, '\0')), path("memory"), "bad magic");
}

TEST_F(SnapshotCorruptionTest, NewerFormatVersion) {
    std::string bad = _state;
    bad[8] = 99;
    expect_refused(mangled("v", bad), path("memory"), "newer than this brood-vmm supports");
}

TEST_F(SnapshotCorruptionTest, WrongArchitecture) {
    std::string bad = _state;
    bad[12] = 2;
    expect_refused(mangled("a", bad), path("memory"), "architecture");
}

TEST_F(SnapshotCorruptionTest, MemoryFileOfTheWrongSize) {
    fs::copy_file(path("memory"), path("short-memory"));
    fs::resize_file(path("short-memory"), 64 << 20);
    expect_refused(path("state"), path("short-memory"), "the snapshot's memory is");
}

TEST_F(SnapshotCorruptionTest, MissingFiles) {
    expect_refused(path("no-state"), path("memory"), "cannot open state file");
    expect_refused(path("state"), path("no-memory"), "cannot open memory file");
}

TEST_F(SnapshotCorruptionTest, OversizedStateFile) {
    { std::ofstream(path("huge"), std::ios::binary).seekp((65 << 20)).put('x'); }
    expect_refused(path("huge"), path("memory"), "cap");
}

} // namespace
} // namespace brood::test
