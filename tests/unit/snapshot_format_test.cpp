// The state file container and the machine state encoding, without KVM.
#include <gtest/gtest.h>

#include <cstring>

#include "vmm/snapshot/bytes.hpp"
#include "vmm/snapshot/machine_state.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood::snapshot {
namespace {

MachineSnapshot sample(uint32_t vcpus = 2) {
    MachineSnapshot s;
    s.config = {256ull << 20, vcpus, R"({"kernel":"k"})"};
    s.vm.pic_master = {1, 2, 3};
    s.vm.pic_slave = {4};
    s.vm.ioapic = std::vector<uint8_t>(300, 7);
    s.vm.pit = {9, 9};
    s.vm.clock = {5};
    for (uint32_t i = 0; i < vcpus; ++i) {
        VcpuSnapshot v;
        v.cpuid = {{1, 0, 0, 0x11, i << 24, 0x33, 0x44}, {7, 0, 1, 0, 0xff, 0, 0}};
        v.state.regs = std::vector<uint8_t>(144, static_cast<uint8_t>(i));
        v.state.xsave = std::vector<uint8_t>(4096, 0xaa);
        v.state.lapic = std::vector<uint8_t>(1024, 0x55);
        v.state.msrs = {{0x10, 12345}, {0x4b564d01, 0xdeadbeef}};
        s.vcpus.push_back(v);
    }
    s.serial.ier = 1;
    s.serial.lcr = 3;
    s.serial.rx = {'a', 'b'};
    s.i8042.control = 0x45;
    s.i8042.output = {0xfa};
    return s;
}

TEST(SnapshotFormat, RoundTripKeepsEverything) {
    auto original = sample();
    auto decoded = decode_snapshot(encode_snapshot(original));
    ASSERT_TRUE(decoded) << decoded.error().message();
    EXPECT_EQ(decoded->config.memory_bytes, original.config.memory_bytes);
    EXPECT_EQ(decoded->config.boot_description, original.config.boot_description);
    EXPECT_EQ(decoded->vm.ioapic, original.vm.ioapic);
    ASSERT_EQ(decoded->vcpus.size(), 2u);
    EXPECT_EQ(decoded->vcpus[1].cpuid[0].ebx, 1u << 24);
    EXPECT_EQ(decoded->vcpus[1].state.xsave, original.vcpus[1].state.xsave);
    EXPECT_EQ(decoded->vcpus[0].state.msrs[1].value, 0xdeadbeefu);
    EXPECT_EQ(decoded->serial.rx, original.serial.rx);
    EXPECT_EQ(decoded->serial.lcr, 3);
    EXPECT_EQ(decoded->i8042.control, 0x45);
}

TEST(SnapshotFormat, HeaderFields) {
    auto bytes = encode_snapshot(sample());
    EXPECT_EQ(std::memcmp(bytes.data(), "BROODSNP", 8), 0);
    uint32_t version, arch;
    std::memcpy(&version, bytes.data() + 8, 4);
    std::memcpy(&arch, bytes.data() + 12, 4);
    EXPECT_EQ(version, kFormatVersion);
    EXPECT_EQ(arch, kArchX86_64);
}

TEST(SnapshotFormat, EveryTruncationIsRefused) {
    auto bytes = encode_snapshot(sample(1));
    for (size_t n = 0; n < bytes.size(); n += 7) {
        auto r = decode_snapshot(std::span(bytes.data(), n));
        EXPECT_FALSE(r) << "accepted a file cut at " << n;
    }
}

TEST(SnapshotFormat, EveryFlippedByteIsRefused) {
    auto bytes = encode_snapshot(sample(1));
    for (size_t i = 0; i < bytes.size(); i += 13) {
        auto bad = bytes;
        bad[i] ^= 0x01;
        EXPECT_FALSE(decode_snapshot(bad)) << "accepted a flip at byte " << i;
    }
}

// Re-encode sections by hand, with a valid checksum, to reach the checks
// behind it.
std::vector<uint8_t> with_sections(std::vector<Section> sections) { return encode_state_file(sections); }

TEST(SnapshotFormat, NewerSectionVersionAndUnknownSectionsAreRefused) {
    auto sections = decode_state_file(encode_snapshot(sample(1)));
    ASSERT_TRUE(sections);
    auto newer = *sections;
    newer[0].version = 2;
    auto r = decode_snapshot(with_sections(newer));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("newer than supported"), std::string::npos);

    auto unknown = *sections;
    unknown.push_back({static_cast<SectionId>(99), 1, {}});
    r = decode_snapshot(with_sections(unknown));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("unknown section"), std::string::npos);
}

TEST(SnapshotFormat, VcpuCountMismatchAndMissingSectionsAreRefused) {
    auto sections = decode_state_file(encode_snapshot(sample(2)));
    ASSERT_TRUE(sections);
    auto fewer = *sections;
    fewer.erase(fewer.begin() + 3); // drop vcpu 1
    auto r = decode_snapshot(with_sections(fewer));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("describes 2 vCPUs but holds 1"), std::string::npos) << r.error().message();

    auto no_vm = *sections;
    no_vm.erase(no_vm.begin() + 1);
    r = decode_snapshot(with_sections(no_vm));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("lacks a required section"), std::string::npos);
}

TEST(SnapshotFormat, Crc32MatchesTheStandardCheckValue) {
    const std::string check = "123456789";
    EXPECT_EQ(crc32(std::span(reinterpret_cast<const uint8_t*>(check.data()), check.size())), 0xcbf43926u);
}

} // namespace
} // namespace brood::snapshot
