#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/mptable.hpp"

namespace brood::x86 {
namespace {

uint8_t byte_sum(const uint8_t* p, size_t len) {
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) sum = static_cast<uint8_t>(sum + p[i]);
    return sum;
}

// What a guest would find, parsed back from guest memory.
struct ParsedMpTable {
    mp::FloatingPointer fp{};
    mp::ConfigHeader header{};
    std::vector<mp::ProcessorEntry> cpus;
    std::vector<mp::BusEntry> buses;
    std::vector<mp::IoapicEntry> ioapics;
    std::vector<mp::InterruptEntry> io_ints, local_ints;
};

ParsedMpTable parse(GuestMemory& mem) {
    ParsedMpTable t;
    auto fp_bytes = mem.span(kMpTableAddr, sizeof(t.fp)).value();
    std::memcpy(&t.fp, fp_bytes.data(), sizeof(t.fp));
    EXPECT_EQ(byte_sum(fp_bytes.data(), fp_bytes.size()), 0) << "floating pointer checksum";
    auto hdr_bytes = mem.span(t.fp.config_table, sizeof(t.header)).value();
    std::memcpy(&t.header, hdr_bytes.data(), sizeof(t.header));
    auto table = mem.span(t.fp.config_table, t.header.base_length).value();
    EXPECT_EQ(byte_sum(table.data(), table.size()), 0) << "config table checksum";

    size_t at = sizeof(mp::ConfigHeader);
    for (unsigned i = 0; i < t.header.entry_count; i++) {
        const uint8_t* p = table.data() + at;
        auto take = [&](auto& vec) {
            typename std::remove_reference_t<decltype(vec)>::value_type e;
            std::memcpy(&e, p, sizeof(e));
            vec.push_back(e);
            at += sizeof(e);
        };
        switch (p[0]) {
        case mp::Processor: take(t.cpus); break;
        case mp::Bus: take(t.buses); break;
        case mp::Ioapic: take(t.ioapics); break;
        case mp::IoInterrupt: take(t.io_ints); break;
        case mp::LocalInterrupt: take(t.local_ints); break;
        default: ADD_FAILURE() << "unknown entry type " << int(p[0]); return t;
        }
    }
    EXPECT_EQ(at, t.header.base_length);
    return t;
}

TEST(MpTable, FloatingPointerComesFirstAndPointsAtTheConfigTable) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    ASSERT_TRUE(write_mptable(mem, 2));
    auto t = parse(mem);
    EXPECT_EQ(std::memcmp(t.fp.signature, "_MP_", 4), 0);
    EXPECT_EQ(t.fp.config_table, kMpTableAddr + 16);
    EXPECT_EQ(t.fp.length, 1);
    EXPECT_EQ(t.fp.spec_rev, 4);
    EXPECT_EQ(t.fp.features[0], 0);
    EXPECT_EQ(std::memcmp(t.header.signature, "PCMP", 4), 0);
    EXPECT_EQ(t.header.spec_rev, 4);
    EXPECT_EQ(std::memcmp(t.header.oem_id, "BROOD   ", 8), 0);
    EXPECT_EQ(t.header.lapic_addr, kLapicAddr);
    EXPECT_EQ(t.header.base_length + 16u, mptable_size(2));
}

TEST(MpTable, DescribesEveryVcpuTheIoapicAndIsaRouting) {
    constexpr uint32_t kVcpus = 4;
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    ASSERT_TRUE(write_mptable(mem, kVcpus));
    auto t = parse(mem);

    ASSERT_EQ(t.cpus.size(), kVcpus);
    for (uint32_t i = 0; i < kVcpus; i++) {
        EXPECT_EQ(t.cpus[i].lapic_id, i);
        EXPECT_TRUE(t.cpus[i].cpu_flags & mp::kCpuEnabled);
        EXPECT_EQ(bool(t.cpus[i].cpu_flags & mp::kCpuBootProcessor), i == 0);
        EXPECT_EQ(t.cpus[i].lapic_version, 0x14);
        EXPECT_NE(t.cpus[i].cpu_signature, 0u);
    }
    ASSERT_EQ(t.buses.size(), 1u);
    EXPECT_EQ(std::memcmp(t.buses[0].bus_type, "ISA   ", 6), 0);
    ASSERT_EQ(t.ioapics.size(), 1u);
    EXPECT_EQ(t.ioapics[0].id, kVcpus);
    EXPECT_EQ(t.ioapics[0].version, 0x11);
    EXPECT_EQ(t.ioapics[0].addr, kIoapicAddr);
    EXPECT_EQ(t.ioapics[0].flags, mp::kIoapicEnabled);

    ASSERT_EQ(t.io_ints.size(), 15u);
    std::vector<int> pin_of_irq(16, -1);
    for (const auto& e : t.io_ints) {
        EXPECT_EQ(e.irq_type, mp::Int);
        EXPECT_EQ(e.src_bus, t.buses[0].bus_id);
        EXPECT_EQ(e.dst_id, kVcpus);
        pin_of_irq[e.src_irq] = e.dst_pin;
    }
    EXPECT_EQ(pin_of_irq[0], 0); // as KVM wires the in-kernel PIT
    EXPECT_EQ(pin_of_irq[2], -1);
    for (int irq = 3; irq < 16; irq++) EXPECT_EQ(pin_of_irq[irq], irq);
    EXPECT_EQ(pin_of_irq[1], 1);

    ASSERT_EQ(t.local_ints.size(), 2u);
    EXPECT_EQ(t.local_ints[0].irq_type, mp::ExtInt);
    EXPECT_EQ(t.local_ints[0].dst_pin, 0);
    EXPECT_EQ(t.local_ints[1].irq_type, mp::Nmi);
    EXPECT_EQ(t.local_ints[1].dst_pin, 1);
    EXPECT_EQ(t.local_ints[1].dst_id, 0xFF);
}

TEST(MpTable, LargestVcpuCountFitsBelowOneMiB) {
    EXPECT_LE(kMpTableAddr + mptable_size(kMpMaxVcpus), kBiosAreaEnd);
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    ASSERT_TRUE(write_mptable(mem, kMpMaxVcpus));
    auto t = parse(mem);
    EXPECT_EQ(t.cpus.size(), kMpMaxVcpus);
    EXPECT_EQ(t.ioapics.at(0).id, kMpMaxVcpus);
}

TEST(MpTable, RejectsZeroAndTooManyVcpus) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto none = write_mptable(mem, 0);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message(), "an MP table needs at least one vCPU");
    auto many = write_mptable(mem, kMpMaxVcpus + 1);
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().message(), "255 vCPUs do not fit in an MP table (at most 254)");
}

TEST(MpTable, NeedsRamAtTheBiosArea) {
    auto mem = GuestMemory::anonymous(512 * 1024).value();
    EXPECT_FALSE(write_mptable(mem, 1));
}

} // namespace
} // namespace brood::x86
