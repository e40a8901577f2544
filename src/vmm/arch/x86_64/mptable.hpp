// Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
// finds its CPUs, its IOAPIC and the ISA interrupt routing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::x86 {

// On-guest structures (little-endian, all fields naturally aligned).
namespace mp {

inline constexpr uint8_t kSpecRev = 4; // MP spec 1.4
inline constexpr uint8_t kLapicVersion = 0x14;
inline constexpr uint8_t kIoapicVersion = 0x11;

enum EntryType : uint8_t { Processor = 0, Bus = 1, Ioapic = 2, IoInterrupt = 3, LocalInterrupt = 4 };
enum IrqType : uint8_t { Int = 0, Nmi = 1, Smi = 2, ExtInt = 3 };
inline constexpr uint8_t kCpuEnabled = 1, kCpuBootProcessor = 2;
inline constexpr uint8_t kIoapicEnabled = 1;

struct FloatingPointer {
    char signature[4];      // "_MP_"
    uint32_t config_table;  // physical address of the config table
    uint8_t length;         // in 16-byte units: 1
    uint8_t spec_rev;
    uint8_t checksum;       // all 16 bytes sum to 0
    uint8_t features[5];    // 0: config table present; no IMCR (virtual wire mode)
};

struct ConfigHeader {
    char signature[4]; // "PCMP"
    uint16_t base_length; // header and all entries
    uint8_t spec_rev;
    uint8_t checksum;  // header and entries sum to 0
    char oem_id[8];
    char product_id[12];
    uint32_t oem_table;
    uint16_t oem_table_size;
    uint16_t entry_count;
    uint32_t lapic_addr;
    uint16_t ext_length;
    uint8_t ext_checksum;
    uint8_t reserved;
};

struct ProcessorEntry {
    uint8_t type, lapic_id, lapic_version, cpu_flags;
    uint32_t cpu_signature; // CPUID.1 EAX: stepping, model, family
    uint32_t feature_flags; // CPUID.1 EDX
    uint32_t reserved[2];
};

struct BusEntry {
    uint8_t type, bus_id;
    char bus_type[6]; // "ISA   "
};

struct IoapicEntry {
    uint8_t type, id, version, flags;
    uint32_t addr;
};

// Shared by I/O and local interrupt entries.
struct InterruptEntry {
    uint8_t type, irq_type;
    uint16_t flags; // 0: polarity and trigger conform to the bus
    uint8_t src_bus, src_irq;
    uint8_t dst_id;  // IOAPIC id, or 0xFF (all local APICs)
    uint8_t dst_pin; // IOAPIC INTIN#, or LINTIN#
};

static_assert(sizeof(FloatingPointer) == 16);
static_assert(sizeof(ConfigHeader) == 44);
static_assert(sizeof(ProcessorEntry) == 20);
static_assert(sizeof(BusEntry) == 8 && sizeof(IoapicEntry) == 8 && sizeof(InterruptEntry) == 8);

} // namespace mp

// ISA IRQ 0 (the PIT) arrives at this IOAPIC pin, as on a PC; IRQ 2 (the PIC
// cascade) has no entry; every other ISA IRQ n arrives at pin n.
inline constexpr uint8_t kIsaIrq0IoapicPin = 0; // KVM's default GSI routing: GSI 0 → pin 0

// APIC ids 0..N-1 go to the vCPUs and N to the IOAPIC; 0xFF is broadcast.
inline constexpr uint32_t kMpMaxVcpus = 254;

struct MpCpuInfo {
    uint32_t signature = 0x600;   // family 6, model 0, stepping 0
    uint32_t features = 0x201;    // FPU | APIC
};

// Bytes the floating pointer plus the config table take for vcpu_count vCPUs.
size_t mptable_size(uint32_t vcpu_count);

// Writes the tables at kMpTableAddr (0xF0000). Fails when vcpu_count is 0,
// above kMpMaxVcpus, or the tables would not fit below 1 MiB.
Result<void> write_mptable(GuestMemory& mem, uint32_t vcpu_count, const MpCpuInfo& cpu = {});

} // namespace brood::x86
