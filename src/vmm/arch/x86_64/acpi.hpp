// Minimal ACPI tables for guests that find their CPUs and interrupt routing
// only through ACPI (kernels built without MP table support): RSDP, XSDT, a
// FADT of a PC with legacy devices (PIC, PIT, ISA IRQs) and the PM block of
// devices/acpi_pm.hpp, a DSDT that declares S5 (power-off), the VM
// generation ID and the virtio-mmio devices, and a MADT
// with the LAPICs, the IOAPIC and the SCI's interrupt source override.
// Written from the ACPI 6.x spec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::x86 {

// On-guest structures (little-endian, packed as the spec lays them out).
namespace acpi {

inline constexpr char kOemId[] = "BROOD ";      // 6 bytes, no NUL in the table
inline constexpr char kOemTableId[] = "BROODVMM"; // 8 bytes
inline constexpr char kCreatorId[] = "BRVM";    // 4 bytes

inline constexpr uint8_t kRsdpRevision = 2;  // ACPI 2.0+: has the XSDT address
inline constexpr uint8_t kXsdtRevision = 1;
inline constexpr uint8_t kFadtRevision = 6;  // ACPI 6.0 layout, 276 bytes
inline constexpr uint8_t kFadtMinorRevision = 0;
inline constexpr uint8_t kDsdtRevision = 2;  // 64-bit AML integers
inline constexpr uint8_t kMadtRevision = 4;

// FADT Flags and IA-PC boot architecture flags.
inline constexpr uint32_t kFadtWbinvd = 1u << 0;
inline constexpr uint32_t kFadtProcC1 = 1u << 2;
inline constexpr uint32_t kFadtPowerButtonAbsent = 1u << 4; // no fixed-feature power button
inline constexpr uint32_t kFadtSleepButtonAbsent = 1u << 5;
inline constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
inline constexpr uint16_t kBootArchLegacyDevices = 1u << 0;
inline constexpr uint16_t kBootArch8042 = 1u << 1;
inline constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
inline constexpr uint16_t kBootArchCmosRtcNotPresent = 1u << 5;

// MADT flags and entry types.
inline constexpr uint32_t kMadtPcatCompat = 1;
inline constexpr uint8_t kMadtLocalApic = 0, kMadtIoapic = 1, kMadtInterruptOverride = 2;
inline constexpr uint32_t kLocalApicEnabled = 1;
// MPS INTI flags: polarity bits 0-1, trigger mode bits 2-3.
inline constexpr uint16_t kIntiActiveHigh = 0x1, kIntiLevelTriggered = 0xc;

// The ACPI power-management block in port I/O space (devices/acpi_pm.hpp).
inline constexpr uint16_t kSciIrq = 9;
inline constexpr uint32_t kPm1aEventBlock = 0x600, kPm1aControlBlock = 0x604, kPmTimerBlock = 0x608;
inline constexpr uint8_t kPm1EventLength = 4, kPm1ControlLength = 2, kPmTimerLength = 4;
inline constexpr uint8_t kSleepTypeS5 = 5; // SLP_TYP that the DSDT's \_S5 names
// General-purpose events: one status byte (write 1 to clear) and one enable
// byte. GPE 0 announces a new VM generation ID.
inline constexpr uint32_t kGpe0Block = 0x620;
inline constexpr uint8_t kGpe0Length = 2;
inline constexpr uint8_t kGpeVmGeneration = 0;

struct __attribute__((packed)) Rsdp {
    char signature[8];  // "RSD PTR "
    uint8_t checksum;   // the first 20 bytes sum to 0
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_addr; // 0: brood writes no RSDT
    uint32_t length;    // 36
    uint64_t xsdt_addr;
    uint8_t ext_checksum; // all 36 bytes sum to 0
    uint8_t reserved[3];
};

struct __attribute__((packed)) SdtHeader {
    char signature[4];
    uint32_t length;    // header included
    uint8_t revision;
    uint8_t checksum;   // the whole table sums to 0
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
};

// Generic Address Structure; all zero means "not present".
struct __attribute__((packed)) Gas {
    uint8_t space_id, bit_width, bit_offset, access_size;
    uint64_t address;
};

struct __attribute__((packed)) Fadt {
    SdtHeader header;            // "FACP"
    uint32_t firmware_ctrl;      // 36
    uint32_t dsdt;               // 40
    uint8_t reserved0;           // 44
    uint8_t preferred_pm_profile;
    uint16_t sci_int;            // 46
    uint32_t smi_cmd;            // 48
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt; // 52
    uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk; // 56
    uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;            // 72
    uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;       // 88
    uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;          // 92
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;       // 96
    uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;    // 104
    uint16_t iapc_boot_arch;     // 109
    uint8_t reserved1;           // 111
    uint32_t flags;              // 112
    Gas reset_reg;               // 116
    uint8_t reset_value;         // 128
    uint16_t arm_boot_arch;      // 129
    uint8_t minor_revision;      // 131
    uint64_t x_firmware_ctrl;    // 132
    uint64_t x_dsdt;             // 140
    Gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk; // 148
    Gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;            // 196
    Gas sleep_control_reg, sleep_status_reg;                            // 244
    uint64_t hypervisor_vendor_id; // 268
};

struct __attribute__((packed)) MadtHeader {
    SdtHeader header;    // "APIC"
    uint32_t lapic_addr;
    uint32_t flags;
};

struct __attribute__((packed)) MadtLocalApic {
    uint8_t type, length; // 0, 8
    uint8_t processor_uid, apic_id;
    uint32_t flags;
};

struct __attribute__((packed)) MadtIoapic {
    uint8_t type, length; // 1, 12
    uint8_t ioapic_id, reserved;
    uint32_t addr;
    uint32_t gsi_base;
};

struct __attribute__((packed)) MadtInterruptOverride {
    uint8_t type, length; // 2, 10
    uint8_t bus;          // 0: ISA
    uint8_t source;       // ISA IRQ
    uint32_t gsi;
    uint16_t flags;       // MPS INTI flags
};

static_assert(sizeof(Rsdp) == 36 && sizeof(SdtHeader) == 36 && sizeof(Gas) == 12);
static_assert(sizeof(Fadt) == 276 && offsetof(Fadt, flags) == 112 &&
              offsetof(Fadt, x_dsdt) == 140 && offsetof(Fadt, hypervisor_vendor_id) == 268);
static_assert(sizeof(MadtHeader) == 44 && sizeof(MadtLocalApic) == 8 && sizeof(MadtIoapic) == 12 &&
              sizeof(MadtInterruptOverride) == 10);

} // namespace acpi

// A virtio-mmio device's window and interrupt line, as the DSDT declares it.
struct MmioDevice {
    uint64_t base = 0;
    uint32_t size = 0;
    uint32_t gsi = 0;
};
constexpr size_t kMaxAcpiMmioDevices = 32;

// Bytes all tables take for vcpu_count vCPUs, alignment padding included.
size_t acpi_tables_size(uint32_t vcpu_count, std::span<const MmioDevice> devices = {});

// The DSDT's AML:
//   Name (_S5, Package () {5, 5, 0, 0})   the guest powers off through PM1a control
//   Scope (\_SB) { Device (VGEN) {        VM generation ID, for guests with a driver
//       Name (_HID, "BROD0001"), Name (_CID, "VM_GEN_COUNTER"),
//       Name (ADDR, Package () {kVmGenerationIdAddr, 0}) } }
//   Scope (\_GPE) { Method (_E00) { Notify (\_SB.VGEN, 0x80) } }
// GPE 0 is raised when the generation ID changes (see devices/acpi_pm.hpp).
// Device n of `devices` joins \_SB as
//   Device (VRnn) { Name (_HID, "LNRO0005"), Name (_UID, n),
//       Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
//           Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } }) }
// which Linux's virtio_mmio driver binds to: no kernel parameter needed.
std::vector<uint8_t> dsdt_aml(std::span<const MmioDevice> devices = {});

// Writes the RSDP at kAcpiRsdpAddr and the other tables after it, inside
// [kAcpiAreaStart, kAcpiAreaEnd). The MADT matches the MP table: APIC ids
// 0..N-1, IOAPIC id N, ISA IRQ n on IOAPIC pin n (as KVM's default routing
// wires them), and one override: the SCI (IRQ 9) is level-triggered.
// Returns the RSDP's address. Fails for 0 vCPUs, more than kMpMaxVcpus,
// more than kMaxAcpiMmioDevices devices or a window not below 4 GiB.
Result<uint64_t> write_acpi_tables(GuestMemory& mem, uint32_t vcpu_count,
                                   std::span<const MmioDevice> devices = {});

} // namespace brood::x86
