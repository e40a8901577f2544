// The test guest drives a virtio-blk queue: writes and reads sectors of a
// --disk, read-only disks, overlays, and a snapshot taken between requests.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "common/disk_overlay.hpp"
#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

constexpr uint64_t kDiskBytes = 4 << 20;

uint32_t crc32_ieee(const std::string& bytes) {
    uint32_t crc = 0xffffffff;
    for (unsigned char c : bytes) {
        crc ^= c;
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
    }
    return ~crc;
}

// Rewrites 8 bytes at `offset` into the payload of the first section with
// id `section`, and fixes the file's checksum (docs/snapshot-format.md).
std::string patch_section(std::string state, uint32_t section, size_t offset, uint64_t value) {
    size_t at = 8 + 4 + 4 + 4;
    while (at + 16 <= state.size() - 4) {
        uint32_t id;
        uint64_t len;
        std::memcpy(&id, &state[at], 4);
        std::memcpy(&len, &state[at + 8], 8);
        if (id == section) {
            std::memcpy(&state[at + 16 + offset], &value, 8);
            uint32_t crc = crc32_ieee(state.substr(0, state.size() - 4));
            std::memcpy(&state[state.size() - 4], &crc, 4);
            return state;
        }
        at += 16 + len;
    }
    ADD_FAILURE() << "no section " << section;
    return state;
}

class DiskTest : public KvmTest {
protected:
    std::string make_disk(const std::string& name, uint64_t bytes = kDiskBytes) {
        std::string p = path(name);
        std::ofstream out(p, std::ios::binary);
        std::vector<char> zeros(bytes, 0);
        out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
        return p;
    }
};

TEST_F(DiskTest, GuestWritesAndReadsSectors) {
    auto disk = make_disk("disk.img");
    {
        auto vm = boot_guest(64, 1, subdir("vm"), {"--disk", disk});
        EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=8192 rw");
        EXPECT_EQ(ask(vm, "dwrite 0 8 1", "dwrite"), "dwrite ok");
        EXPECT_EQ(ask(vm, "dwrite 8184 8 2", "dwrite"), "dwrite ok") << "the last sectors";
        EXPECT_EQ(ask(vm, "dverify 0 8 1", "dverify"), "dverify ok");
        EXPECT_EQ(ask(vm, "dverify 8184 8 2", "dverify"), "dverify ok");
        EXPECT_EQ(ask(vm, "dverify 0 8 2", "dverify"), "dverify bad byte=0") << "another seed's pattern";
        EXPECT_EQ(ask(vm, "dverify 8190 8 2", "dverify"), "dverify status=1") << "past the end: IOERR";
        EXPECT_EQ(ask(vm, "dflush", "dflush"), "dflush ok");
        EXPECT_EQ(ask(vm, "ping", "pong"), "pong");
    }
    // What the guest wrote is in the file.
    std::ifstream in(disk, std::ios::binary);
    std::vector<char> bytes(kDiskBytes);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_NE(std::count(bytes.begin(), bytes.begin() + 4096, 0), 4096);
    EXPECT_EQ(std::count(bytes.begin() + 4096, bytes.end() - 4096, 0), static_cast<long>(kDiskBytes - 8192));
}

TEST_F(DiskTest, ReadOnlyDiskRefusesWrites) {
    auto disk = make_disk("disk.img");
    auto before = file_digest(disk);
    auto vm = boot_guest(64, 1, subdir("vm"), {"--disk", disk + ",ro"});
    EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=8192 ro");
    EXPECT_EQ(ask(vm, "dwrite 0 1 1", "dwrite"), "dwrite status=1");
    EXPECT_EQ(ask(vm, "dverify 0 1 1", "dverify"), "dverify bad byte=0") << "zeros, not the pattern";
    vm.kill_now();
    EXPECT_EQ(file_digest(disk), before);
}

TEST_F(DiskTest, OverlayKeepsTheBaseUnwritten) {
    auto base = make_disk("base.img");
    auto before = file_digest(base);
    ASSERT_TRUE(overlay::create(path("layer.ovl"), kDiskBytes));
    {
        auto vm = boot_guest(64, 1, subdir("vm"), {"--disk", path("layer.ovl") + ",base=" + base});
        EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=8192 rw");
        EXPECT_EQ(ask(vm, "dwrite 100 16 7", "dwrite"), "dwrite ok");
        EXPECT_EQ(ask(vm, "dverify 100 16 7", "dverify"), "dverify ok");
    }
    EXPECT_EQ(file_digest(base), before);
}

TEST_F(DiskTest, HostileChainStopsTheDeviceNotTheVm) {
    auto disk = make_disk("disk.img");
    auto vm = boot_guest(64, 1, subdir("vm"), {"--disk", disk});
    EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=8192 rw");
    EXPECT_EQ(ask(vm, "dwrite 0 1 4", "dwrite"), "dwrite ok");
    EXPECT_EQ(ask(vm, "dbad", "dbad"), "dbad needs-reset config-interrupt=1");
    EXPECT_EQ(ask(vm, "ping", "pong"), "pong") << "the VM carries on";
    // A reset brings the device back.
    EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=8192 rw");
    EXPECT_EQ(ask(vm, "dverify 0 1 4", "dverify"), "dverify ok");
}

TEST_F(DiskTest, BadDiskArgumentsAreRefused) {
    auto missing = run_vmm({"boot", "--kernel", test_guest_path(), "--disk", path("missing.img")});
    EXPECT_EQ(missing.exit_code, 2) << missing.stderr_text;
    EXPECT_NE(missing.stderr_text.find("missing.img"), std::string::npos) << missing.stderr_text;
    auto odd = make_disk("odd.img", 1000);
    auto r = run_vmm({"boot", "--kernel", test_guest_path(), "--disk", odd});
    EXPECT_NE(r.stderr_text.find("multiple of 512"), std::string::npos) << r.stderr_text;
    r = run_vmm({"boot", "--kernel", test_guest_path(), "--disk", odd + ",rw"});
    EXPECT_NE(r.stderr_text.find("unknown option"), std::string::npos) << r.stderr_text;
}

TEST_F(DiskTest, SnapshotBetweenRequestsCarriesOn) {
    auto disk = make_disk("disk.img");
    auto vm = boot_guest(64, 1, subdir("source"), {"--disk", disk});
    EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=8192 rw");
    EXPECT_EQ(ask(vm, "dwrite 0 4 3", "dwrite"), "dwrite ok");
    auto snap = take_snapshot(vm, path("state"), path("memory"));
    ASSERT_TRUE(snap) << snap.error().message();
    vm.kill_now();

    // The state file recorded the disk: a restore needs one of that shape.
    auto none = run_vmm({"restore", "--state", path("state"), "--memory", path("memory")});
    EXPECT_NE(none.stderr_text.find("1 disks, 0 given"), std::string::npos) << none.stderr_text;
    auto ro = run_vmm({"restore", "--state", path("state"), "--memory", path("memory"), "--disk", disk + ",ro"});
    EXPECT_NE(ro.stderr_text.find("read-only"), std::string::npos) << ro.stderr_text;
    auto small = make_disk("small.img", kDiskBytes / 2);
    auto sized = run_vmm({"restore", "--state", path("state"), "--memory", path("memory"), "--disk", small});
    EXPECT_NE(sized.stderr_text.find("bytes"), std::string::npos) << sized.stderr_text;

    // A hostile state file: the queue's used ring outside guest RAM.
    std::ifstream in(path("state"), std::ios::binary);
    std::string state((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    constexpr size_t kUsedAddrOffset = 58; // transport fields, queue count, size, ready, desc, avail
    std::ofstream(path("hostile"), std::ios::binary) << patch_section(state, 16, kUsedAddrOffset, 1ULL << 40);
    auto hostile = run_vmm({"restore", "--state", path("hostile"), "--memory", path("memory"), "--disk", disk});
    EXPECT_EQ(hostile.exit_code, 2) << hostile.stderr_text;
    EXPECT_NE(hostile.stderr_text.find("used ring"), std::string::npos) << hostile.stderr_text;

    auto restored = restore(path("state"), path("memory"), "file", subdir("restored"), {"--disk", disk});
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(ask(*restored, "dverify 0 4 3", "dverify"), "dverify ok");
    EXPECT_EQ(ask(*restored, "dwrite 64 4 5", "dwrite"), "dwrite ok");
    EXPECT_EQ(ask(*restored, "dverify 64 4 5", "dverify"), "dverify ok");
}

} // namespace
} // namespace brood::test
