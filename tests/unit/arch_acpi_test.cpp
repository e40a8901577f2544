#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "vmm/arch/x86_64/acpi.hpp"
#include "vmm/arch/x86_64/e820.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/mptable.hpp"

namespace brood::x86 {
namespace {

uint8_t byte_sum(const uint8_t* p, size_t len) {
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) sum = static_cast<uint8_t>(sum + p[i]);
    return sum;
}

template <typename T>
T read_at(GuestMemory& mem, uint64_t gpa) {
    T value{};
    auto bytes = mem.span(gpa, sizeof(T)).value();
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
}

// What a guest would find, parsed back from guest memory the way a kernel does:
// RSDP → XSDT → tables by signature, every checksum checked on the way.
struct ParsedAcpi {
    acpi::Rsdp rsdp{};
    std::vector<uint64_t> xsdt_entries;
    std::map<std::string, uint64_t> table_addr; // signature → address
    acpi::Fadt fadt{};
    acpi::MadtHeader madt{};
    std::vector<acpi::MadtLocalApic> lapics;
    std::vector<acpi::MadtIoapic> ioapics;
    std::vector<acpi::MadtInterruptOverride> overrides;
    std::vector<uint8_t> dsdt_aml;
    uint64_t lowest = UINT64_MAX, highest_end = 0; // bytes the tables cover
};

void cover(ParsedAcpi& t, uint64_t addr, uint64_t len) {
    t.lowest = std::min(t.lowest, addr);
    t.highest_end = std::max(t.highest_end, addr + len);
}

acpi::SdtHeader check_table(GuestMemory& mem, ParsedAcpi& t, uint64_t addr, const char* sig) {
    auto h = read_at<acpi::SdtHeader>(mem, addr);
    EXPECT_EQ(std::string(h.signature, 4), sig) << "table at " << std::hex << addr;
    EXPECT_GE(h.length, sizeof(acpi::SdtHeader));
    auto bytes = mem.span(addr, h.length).value();
    EXPECT_EQ(byte_sum(bytes.data(), bytes.size()), 0) << sig << " checksum";
    EXPECT_EQ(std::string(h.oem_id, 6), "BROOD ");
    EXPECT_EQ(addr % 8, 0u) << sig << " alignment";
    cover(t, addr, h.length);
    return h;
}

ParsedAcpi parse(GuestMemory& mem, uint64_t rsdp_addr) {
    ParsedAcpi t;
    t.rsdp = read_at<acpi::Rsdp>(mem, rsdp_addr);
    auto rsdp_bytes = mem.span(rsdp_addr, sizeof(acpi::Rsdp)).value();
    EXPECT_EQ(byte_sum(rsdp_bytes.data(), 20), 0) << "RSDP 20-byte checksum";
    EXPECT_EQ(byte_sum(rsdp_bytes.data(), t.rsdp.length), 0) << "RSDP extended checksum";
    cover(t, rsdp_addr, sizeof(acpi::Rsdp));

    auto xsdt = check_table(mem, t, t.rsdp.xsdt_addr, "XSDT");
    for (uint64_t at = sizeof(acpi::SdtHeader); at + 8 <= xsdt.length; at += 8)
        t.xsdt_entries.push_back(read_at<uint64_t>(mem, t.rsdp.xsdt_addr + at));
    for (uint64_t addr : t.xsdt_entries) {
        auto h = read_at<acpi::SdtHeader>(mem, addr);
        t.table_addr[std::string(h.signature, 4)] = addr;
    }
    if (t.table_addr.count("FACP")) {
        auto h = check_table(mem, t, t.table_addr["FACP"], "FACP");
        EXPECT_EQ(h.length, sizeof(acpi::Fadt));
        t.fadt = read_at<acpi::Fadt>(mem, t.table_addr["FACP"]);
        auto dsdt = check_table(mem, t, t.fadt.x_dsdt, "DSDT");
        auto aml = mem.span(t.fadt.x_dsdt + sizeof(acpi::SdtHeader), dsdt.length - sizeof(acpi::SdtHeader)).value();
        t.dsdt_aml.assign(aml.begin(), aml.end());
    }
    if (t.table_addr.count("APIC")) {
        const uint64_t addr = t.table_addr["APIC"];
        auto h = check_table(mem, t, addr, "APIC");
        t.madt = read_at<acpi::MadtHeader>(mem, addr);
        uint64_t at = sizeof(acpi::MadtHeader);
        while (at + 2 <= h.length) {
            const auto type = read_at<uint8_t>(mem, addr + at);
            const auto len = read_at<uint8_t>(mem, addr + at + 1);
            if (len < 2 || at + len > h.length) {
                ADD_FAILURE() << "bad MADT entry length " << int(len) << " at " << at;
                break;
            }
            if (type == acpi::kMadtLocalApic) {
                EXPECT_EQ(len, sizeof(acpi::MadtLocalApic));
                t.lapics.push_back(read_at<acpi::MadtLocalApic>(mem, addr + at));
            } else if (type == acpi::kMadtIoapic) {
                EXPECT_EQ(len, sizeof(acpi::MadtIoapic));
                t.ioapics.push_back(read_at<acpi::MadtIoapic>(mem, addr + at));
            } else if (type == acpi::kMadtInterruptOverride) {
                EXPECT_EQ(len, sizeof(acpi::MadtInterruptOverride));
                t.overrides.push_back(read_at<acpi::MadtInterruptOverride>(mem, addr + at));
            } else {
                ADD_FAILURE() << "unexpected MADT entry type " << int(type);
            }
            at += len;
        }
        EXPECT_EQ(at, h.length);
    }
    return t;
}

TEST(Acpi, RsdpIsInTheBiosAreaAndPointsAtTheXsdt) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto rsdp = write_acpi_tables(mem, 2);
    ASSERT_TRUE(rsdp) << rsdp.error().message();
    EXPECT_EQ(*rsdp, kAcpiRsdpAddr);
    EXPECT_EQ(*rsdp % 16, 0u);
    EXPECT_GE(*rsdp, 0xE0000u);
    EXPECT_LT(*rsdp, 0x100000u);
    auto t = parse(mem, *rsdp);
    EXPECT_EQ(std::string(t.rsdp.signature, 8), "RSD PTR ");
    EXPECT_EQ(t.rsdp.revision, 2);
    EXPECT_EQ(t.rsdp.length, 36u);
    EXPECT_EQ(std::string(t.rsdp.oem_id, 6), "BROOD ");
    EXPECT_NE(t.rsdp.xsdt_addr, 0u);
}

TEST(Acpi, XsdtListsFadtAndMadt) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto t = parse(mem, write_acpi_tables(mem, 1).value());
    ASSERT_EQ(t.xsdt_entries.size(), 2u);
    EXPECT_EQ(t.table_addr.size(), 2u);
    EXPECT_TRUE(t.table_addr.count("FACP"));
    EXPECT_TRUE(t.table_addr.count("APIC"));
}

// Linux maps ISA IRQs (timer 0, COM1 4) onto the IOAPIC only when the FADT
// is not hardware-reduced; then it needs an SCI and the PM1 blocks.
TEST(Acpi, FadtIsALegacyPcWithThePmBlockAndPointsAtTheDsdt) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto t = parse(mem, write_acpi_tables(mem, 1).value());
    const auto& f = t.fadt;
    EXPECT_EQ(f.header.revision, 6);
    EXPECT_FALSE(f.flags & acpi::kFadtHwReducedAcpi);
    EXPECT_TRUE(f.flags & acpi::kFadtPowerButtonAbsent);
    EXPECT_TRUE(f.flags & acpi::kFadtSleepButtonAbsent);
    EXPECT_NE(f.x_dsdt, 0u);
    EXPECT_EQ(f.dsdt, f.x_dsdt);
    EXPECT_EQ(f.sci_int, 9);
    EXPECT_EQ(f.smi_cmd, 0u) << "no SMI_CMD: ACPI mode from reset";
    EXPECT_EQ(f.pm1a_evt_blk, 0x600u);
    EXPECT_EQ(f.pm1_evt_len, 4);
    EXPECT_EQ(f.pm1a_cnt_blk, 0x604u);
    EXPECT_EQ(f.pm1_cnt_len, 2);
    EXPECT_EQ(f.pm_tmr_blk, 0x608u);
    EXPECT_EQ(f.pm_tmr_len, 4);
    EXPECT_EQ(f.gpe0_blk, 0x620u);
    EXPECT_EQ(f.gpe0_blk_len, 2);
    EXPECT_TRUE(f.iapc_boot_arch & acpi::kBootArch8042);
    EXPECT_TRUE(f.iapc_boot_arch & acpi::kBootArchLegacyDevices);
}

// The DSDT's AML, byte for byte (see acpi.hpp for its ASL):
TEST(Acpi, DsdtDeclaresS5AndTheVmGenerationDevice) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto t = parse(mem, write_acpi_tables(mem, 1).value());
    const uint8_t addr0 = kVmGenerationIdAddr & 0xff, addr1 = (kVmGenerationIdAddr >> 8) & 0xff,
                  addr2 = (kVmGenerationIdAddr >> 16) & 0xff;
    std::vector<uint8_t> want = {
        // Name (_S5_, Package (0x04) {0x05, 0x05, Zero, Zero})
        0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 5, 0x0a, 5, 0, 0,
        // Scope (\_SB_) { Device (VGEN) {
        0x10, 63, 0x5c, '_', 'S', 'B', '_', 0x5b, 0x82, 55, 'V', 'G', 'E', 'N',
        //   Name (_HID, "BROD0001")
        0x08, '_', 'H', 'I', 'D', 0x0d, 'B', 'R', 'O', 'D', '0', '0', '0', '1', 0,
        //   Name (_CID, "VM_GEN_COUNTER")
        0x08, '_', 'C', 'I', 'D', 0x0d, 'V', 'M', '_', 'G', 'E', 'N', '_', 'C', 'O', 'U', 'N', 'T', 'E', 'R', 0,
        //   Name (ADDR, Package (0x02) {kVmGenerationIdAddr, Zero}) } }
        0x08, 'A', 'D', 'D', 'R', 0x12, 0x08, 0x02, 0x0c, addr0, addr1, addr2, 0, 0,
        // Scope (\_GPE) { Method (_E00, 0) { Notify (\_SB_.VGEN, 0x80) } }
        0x10, 26, 0x5c, '_', 'G', 'P', 'E', 0x14, 19, '_', 'E', '0', '0', 0x00,
        0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80};
    EXPECT_EQ(t.dsdt_aml, want);
    EXPECT_EQ(dsdt_aml(), want);
}

// A virtio-mmio device joins \_SB_ as an LNRO0005 device with its window
// and its edge-triggered interrupt line, byte for byte.
TEST(Acpi, DsdtDeclaresEachVirtioMmioDevice) {
    const MmioDevice devices[] = {{0xd0000000, 0x1000, 5}, {0xd0001000, 0x1000, 14}};
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto t = parse(mem, write_acpi_tables(mem, 1, devices).value());
    auto device = [](char digit, uint8_t base_byte1, uint8_t gsi) {
        return std::vector<uint8_t>{
            // Device (VR0n) {
            0x5b, 0x82, 59, 'V', 'R', '0', static_cast<uint8_t>(digit),
            //   Name (_HID, "LNRO0005")
            0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0,
            //   Name (_UID, n)
            0x08, '_', 'U', 'I', 'D', 0x0a, static_cast<uint8_t>(digit - '0'),
            //   Name (_CRS, ResourceTemplate () {
            0x08, '_', 'C', 'R', 'S', 0x11, 26, 0x0a, 23,
            //     Memory32Fixed (ReadWrite, base, 0x1000)
            0x86, 9, 0, 1, 0x00, base_byte1, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
            //     Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }
            0x89, 6, 0, 0x03, 1, gsi, 0, 0, 0,
            //     end tag }) }
            0x79, 0};
    };
    const auto first = device('0', 0x00, 5), second = device('1', 0x10, 14);
    auto at = std::search(t.dsdt_aml.begin(), t.dsdt_aml.end(), first.begin(), first.end());
    ASSERT_NE(at, t.dsdt_aml.end()) << "no VR00 in the DSDT";
    EXPECT_TRUE(std::equal(second.begin(), second.end(), at + static_cast<ptrdiff_t>(first.size())))
        << "VR01 must follow VR00";
    // Scope (\_SB_) now holds VGEN (57 bytes) and both devices: a two-byte PkgLength.
    const size_t scope_len = 2 + 5 + 57 + first.size() + second.size();
    const std::vector<uint8_t> scope_head = {0x10, static_cast<uint8_t>(0x40 | (scope_len & 0xf)),
                                             static_cast<uint8_t>(scope_len >> 4), 0x5c, '_', 'S', 'B', '_'};
    EXPECT_TRUE(std::equal(scope_head.begin(), scope_head.end(), t.dsdt_aml.begin() + 14));
    EXPECT_EQ(t.dsdt_aml, dsdt_aml(devices));
}

TEST(Acpi, TheMostDevicesAndVcpusFitAndMoreAreRefused) {
    std::vector<MmioDevice> devices(kMaxAcpiMmioDevices, MmioDevice{0xd0000000, 0x1000, 5});
    EXPECT_LE(kAcpiRsdpAddr + acpi_tables_size(kMpMaxVcpus, devices), kVmGenerationIdAddr);
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    EXPECT_TRUE(write_acpi_tables(mem, kMpMaxVcpus, devices));
    devices.push_back(devices.back());
    auto more = write_acpi_tables(mem, 1, devices);
    ASSERT_FALSE(more);
    EXPECT_NE(more.error().message().find("at most 32"), std::string::npos) << more.error().message();
    const MmioDevice high[] = {{0xffff'f800, 0x1000, 5}};
    EXPECT_FALSE(write_acpi_tables(mem, 1, high)) << "a window that crosses 4 GiB";
}

// The generation ID sits in reserved memory, clear of the tables.
TEST(Acpi, TheVmGenerationIdIsInTheReservedAcpiAreaAfterTheTables) {
    EXPECT_EQ(kVmGenerationIdAddr % 8, 0u);
    EXPECT_GE(kVmGenerationIdAddr, kAcpiRsdpAddr + acpi_tables_size(kMpMaxVcpus));
    EXPECT_LE(kVmGenerationIdAddr + kVmGenerationIdSize, kAcpiAreaEnd);
}

void expect_madt(uint32_t vcpus) {
    SCOPED_TRACE(vcpus);
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto t = parse(mem, write_acpi_tables(mem, vcpus).value());
    EXPECT_EQ(t.madt.lapic_addr, kLapicAddr);
    EXPECT_EQ(t.madt.flags, acpi::kMadtPcatCompat);
    ASSERT_EQ(t.lapics.size(), vcpus);
    for (uint32_t i = 0; i < vcpus; i++) {
        EXPECT_EQ(t.lapics[i].processor_uid, i);
        EXPECT_EQ(t.lapics[i].apic_id, i);
        EXPECT_EQ(t.lapics[i].flags, acpi::kLocalApicEnabled);
    }
    ASSERT_EQ(t.ioapics.size(), 1u);
    EXPECT_EQ(t.ioapics[0].ioapic_id, vcpus); // as in the MP table
    EXPECT_EQ(t.ioapics[0].addr, kIoapicAddr);
    EXPECT_EQ(t.ioapics[0].gsi_base, 0u);
    // ISA IRQs are identity-mapped (KVM's default routing) but for the SCI's trigger mode.
    ASSERT_EQ(t.overrides.size(), 1u);
    EXPECT_EQ(t.overrides[0].bus, 0);
    EXPECT_EQ(t.overrides[0].source, 9);
    EXPECT_EQ(t.overrides[0].gsi, 9u);
    EXPECT_EQ(t.overrides[0].flags, acpi::kIntiActiveHigh | acpi::kIntiLevelTriggered);
}

TEST(Acpi, MadtDescribesEveryVcpuAndTheIoapic) {
    for (uint32_t n : {1u, 4u, 64u, kMpMaxVcpus}) expect_madt(n);
}

TEST(Acpi, TablesStayClearOfTheMpTableAndInsideReservedE820) {
    for (uint32_t n : {1u, 4u, 64u, kMpMaxVcpus}) {
        SCOPED_TRACE(n);
        auto mem = GuestMemory::anonymous(16 * kMiB).value();
        ASSERT_TRUE(write_mptable(mem, n));
        std::vector<uint8_t> mp_before(mptable_size(n));
        ASSERT_TRUE(mem.read(kMpTableAddr, mp_before));
        auto t = parse(mem, write_acpi_tables(mem, n).value());
        EXPECT_GE(t.lowest, kAcpiAreaStart);
        EXPECT_LE(t.highest_end, kAcpiAreaEnd);
        EXPECT_LE(t.highest_end, kMpTableAddr);
        EXPECT_EQ(t.highest_end - t.lowest, acpi_tables_size(n));
        std::vector<uint8_t> mp_after(mptable_size(n));
        ASSERT_TRUE(mem.read(kMpTableAddr, mp_after));
        EXPECT_EQ(mp_before, mp_after) << "the ACPI tables overwrote the MP table";

        bool reserved = false;
        for (const auto& e : build_e820(mem.layout()))
            if (e.type == E820Type::Reserved && e.addr <= t.lowest && t.highest_end <= e.addr + e.size)
                reserved = true;
        EXPECT_TRUE(reserved) << "E820 must reserve the ACPI tables";
    }
}

TEST(Acpi, RejectsZeroAndTooManyVcpus) {
    auto mem = GuestMemory::anonymous(16 * kMiB).value();
    auto none = write_acpi_tables(mem, 0);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message(), "ACPI tables need at least one vCPU");
    auto many = write_acpi_tables(mem, kMpMaxVcpus + 1);
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().message(), "255 vCPUs do not fit in the ACPI MADT (at most 254)");
}

TEST(Acpi, NeedsRamAtTheBiosArea) {
    auto mem = GuestMemory::anonymous(512 * 1024).value();
    EXPECT_FALSE(write_acpi_tables(mem, 1));
}

} // namespace
} // namespace brood::x86
