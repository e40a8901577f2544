#include "vmm/arch/x86_64/acpi.hpp"

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "vmm/arch/x86_64/aml.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/mptable.hpp"

namespace brood::x86 {

namespace {

constexpr size_t kAlign = 16;

size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

uint8_t checksum_of(const uint8_t* bytes, size_t len) {
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) sum = static_cast<uint8_t>(sum + bytes[i]);
    return static_cast<uint8_t>(-sum);
}

acpi::SdtHeader header(const char (&signature)[5], uint32_t length, uint8_t revision) {
    acpi::SdtHeader h{};
    std::memcpy(h.signature, signature, 4);
    h.length = length;
    h.revision = revision;
    std::memcpy(h.oem_id, acpi::kOemId, sizeof(h.oem_id));
    std::memcpy(h.oem_table_id, acpi::kOemTableId, sizeof(h.oem_table_id));
    h.oem_revision = 1;
    std::memcpy(h.creator_id, acpi::kCreatorId, sizeof(h.creator_id));
    h.creator_revision = 1;
    return h;
}

// Where each table goes, relative to the RSDP, for vcpu_count vCPUs.
struct Placement {
    size_t xsdt, fadt, dsdt, madt, madt_len, end;
};

constexpr size_t kXsdtEntries = 2; // FADT, MADT

aml::Bytes virtio_mmio_device(size_t index, const MmioDevice& dev) {
    using namespace aml;
    return device(fmt::format("VR{:02X}", index),
                  {name("_HID", string("LNRO0005")), name("_UID", byte_const(static_cast<uint8_t>(index))),
                   name("_CRS", resource_template({memory32_fixed(static_cast<uint32_t>(dev.base), dev.size),
                                                   edge_interrupt(dev.gsi)}))});
}

} // namespace

std::vector<uint8_t> dsdt_aml(std::span<const MmioDevice> devices) {
    using namespace aml;
    Bytes system_bus = device("VGEN", {name("_HID", string("BROD0001")), name("_CID", string("VM_GEN_COUNTER")),
                                       name("ADDR", package({dword_const(static_cast<uint32_t>(kVmGenerationIdAddr)),
                                                             {kZeroOp}}))});
    for (size_t i = 0; i < devices.size(); ++i) {
        auto d = virtio_mmio_device(i, devices[i]);
        system_bus.insert(system_bus.end(), d.begin(), d.end());
    }
    return concat({
        name("_S5_", package({byte_const(acpi::kSleepTypeS5), byte_const(acpi::kSleepTypeS5), {kZeroOp}, {kZeroOp}})),
        scope(root_path({"_SB_"}), {system_bus}),
        scope(root_path({"_GPE"}), {method("_E00", 0, {notify(root_path({"_SB_", "VGEN"}), 0x80)})}),
    });
}

namespace {

Placement place(uint32_t vcpu_count, size_t dsdt_size) {
    Placement p{};
    p.xsdt = align_up(sizeof(acpi::Rsdp));
    p.fadt = align_up(p.xsdt + sizeof(acpi::SdtHeader) + kXsdtEntries * sizeof(uint64_t));
    p.dsdt = align_up(p.fadt + sizeof(acpi::Fadt));
    p.madt = align_up(p.dsdt + sizeof(acpi::SdtHeader) + dsdt_size);
    p.madt_len = sizeof(acpi::MadtHeader) + vcpu_count * sizeof(acpi::MadtLocalApic) +
                 sizeof(acpi::MadtIoapic) + sizeof(acpi::MadtInterruptOverride);
    p.end = p.madt + p.madt_len;
    return p;
}

class Area final {
public:
    explicit Area(size_t size) : _bytes(size, 0) {}
    template <typename T>
    void put(size_t at, const T& obj) {
        std::memcpy(_bytes.data() + at, &obj, sizeof(T));
    }
    // Sets the checksum byte of the table at `at` so its `len` bytes sum to 0.
    void seal(size_t at, size_t len) {
        _bytes[at + offsetof(acpi::SdtHeader, checksum)] = 0;
        _bytes[at + offsetof(acpi::SdtHeader, checksum)] = checksum_of(_bytes.data() + at, len);
    }
    void put_bytes(size_t at, std::span<const uint8_t> bytes) {
        std::memcpy(_bytes.data() + at, bytes.data(), bytes.size());
    }
    std::vector<uint8_t>& bytes() { return _bytes; }

private:
    std::vector<uint8_t> _bytes;
};

} // namespace

size_t acpi_tables_size(uint32_t vcpu_count, std::span<const MmioDevice> devices) {
    return place(vcpu_count, dsdt_aml(devices).size()).end;
}

Result<uint64_t> write_acpi_tables(GuestMemory& mem, uint32_t vcpu_count, std::span<const MmioDevice> devices) {
    if (vcpu_count == 0) return fail("ACPI tables need at least one vCPU");
    if (vcpu_count > kMpMaxVcpus)
        return fail(fmt::format("{} vCPUs do not fit in the ACPI MADT (at most {})", vcpu_count,
                                kMpMaxVcpus));
    if (devices.size() > kMaxAcpiMmioDevices)
        return fail(fmt::format("{} MMIO devices do not fit in the DSDT (at most {})", devices.size(),
                                kMaxAcpiMmioDevices));
    for (const auto& d : devices)
        if (d.base > UINT32_MAX - d.size)
            return fail(fmt::format("MMIO device window {:#x}+{:#x} is not below 4 GiB", d.base, d.size));
    const auto dsdt = dsdt_aml(devices);
    const Placement p = place(vcpu_count, dsdt.size());
    if (kAcpiRsdpAddr + p.end > kVmGenerationIdAddr)
        return fail(fmt::format("the ACPI tables for {} vCPUs ({} bytes) do not fit below {:#x}",
                                vcpu_count, p.end, kVmGenerationIdAddr));
    const uint64_t base = kAcpiRsdpAddr;
    Area area(p.end);

    // DSDT: the S5 sleep state, the VM generation ID and the virtio-mmio
    // devices; every other device is a fixed PC device.
    const size_t dsdt_len = sizeof(acpi::SdtHeader) + dsdt.size();
    area.put(p.dsdt, header("DSDT", static_cast<uint32_t>(dsdt_len), acpi::kDsdtRevision));
    area.put_bytes(p.dsdt + sizeof(acpi::SdtHeader), dsdt);
    area.seal(p.dsdt, dsdt_len);

    // FADT: a PC with legacy devices, not hardware-reduced ACPI. Linux then
    // keeps the PIC and PIT and maps ISA IRQs 0-15 onto the IOAPIC; with a
    // hardware-reduced FADT it assumes no legacy IRQs at all, and COM1's IRQ 4
    // is never routed. No SMI_CMD: the machine is in ACPI mode from reset.
    acpi::Fadt fadt{};
    fadt.header = header("FACP", sizeof(acpi::Fadt), acpi::kFadtRevision);
    fadt.dsdt = static_cast<uint32_t>(base + p.dsdt);
    fadt.x_dsdt = base + p.dsdt;
    fadt.sci_int = acpi::kSciIrq;
    fadt.pm1a_evt_blk = acpi::kPm1aEventBlock;
    fadt.pm1a_cnt_blk = acpi::kPm1aControlBlock;
    fadt.pm_tmr_blk = acpi::kPmTimerBlock;
    fadt.pm1_evt_len = acpi::kPm1EventLength;
    fadt.pm1_cnt_len = acpi::kPm1ControlLength;
    fadt.pm_tmr_len = acpi::kPmTimerLength;
    fadt.gpe0_blk = acpi::kGpe0Block;
    fadt.gpe0_blk_len = acpi::kGpe0Length;
    fadt.flags = acpi::kFadtWbinvd | acpi::kFadtProcC1 | acpi::kFadtPowerButtonAbsent |
                 acpi::kFadtSleepButtonAbsent;
    fadt.iapc_boot_arch = static_cast<uint16_t>(acpi::kBootArchLegacyDevices | acpi::kBootArch8042 |
                                                acpi::kBootArchVgaNotPresent |
                                                acpi::kBootArchCmosRtcNotPresent);
    fadt.minor_revision = acpi::kFadtMinorRevision;
    area.put(p.fadt, fadt);
    area.seal(p.fadt, sizeof(fadt));

    // MADT: one enabled local APIC per vCPU, the IOAPIC (ids as in the MP
    // table), then the SCI's override.
    acpi::MadtHeader madt{};
    madt.header = header("APIC", static_cast<uint32_t>(p.madt_len), acpi::kMadtRevision);
    madt.lapic_addr = static_cast<uint32_t>(kLapicAddr);
    madt.flags = acpi::kMadtPcatCompat;
    area.put(p.madt, madt);
    size_t at = p.madt + sizeof(madt);
    for (uint32_t i = 0; i < vcpu_count; i++) {
        acpi::MadtLocalApic lapic{};
        lapic.type = acpi::kMadtLocalApic;
        lapic.length = sizeof(lapic);
        lapic.processor_uid = static_cast<uint8_t>(i);
        lapic.apic_id = static_cast<uint8_t>(i);
        lapic.flags = acpi::kLocalApicEnabled;
        area.put(at, lapic);
        at += sizeof(lapic);
    }
    acpi::MadtIoapic ioapic{};
    ioapic.type = acpi::kMadtIoapic;
    ioapic.length = sizeof(ioapic);
    ioapic.ioapic_id = static_cast<uint8_t>(vcpu_count);
    ioapic.addr = static_cast<uint32_t>(kIoapicAddr);
    ioapic.gsi_base = 0;
    area.put(at, ioapic);
    at += sizeof(ioapic);
    acpi::MadtInterruptOverride sci{};
    sci.type = acpi::kMadtInterruptOverride;
    sci.length = sizeof(sci);
    sci.source = acpi::kSciIrq;
    sci.gsi = acpi::kSciIrq;
    sci.flags = acpi::kIntiActiveHigh | acpi::kIntiLevelTriggered;
    area.put(at, sci);
    area.seal(p.madt, p.madt_len);

    // XSDT: 64-bit pointers to the FADT and the MADT (the DSDT hangs off the FADT).
    const size_t xsdt_len = sizeof(acpi::SdtHeader) + kXsdtEntries * sizeof(uint64_t);
    area.put(p.xsdt, header("XSDT", static_cast<uint32_t>(xsdt_len), acpi::kXsdtRevision));
    area.put(p.xsdt + sizeof(acpi::SdtHeader), uint64_t{base + p.fadt});
    area.put(p.xsdt + sizeof(acpi::SdtHeader) + sizeof(uint64_t), uint64_t{base + p.madt});
    area.seal(p.xsdt, xsdt_len);

    acpi::Rsdp rsdp{};
    std::memcpy(rsdp.signature, "RSD PTR ", sizeof(rsdp.signature));
    std::memcpy(rsdp.oem_id, acpi::kOemId, sizeof(rsdp.oem_id));
    rsdp.revision = acpi::kRsdpRevision;
    rsdp.length = sizeof(rsdp);
    rsdp.xsdt_addr = base + p.xsdt;
    rsdp.checksum = checksum_of(reinterpret_cast<const uint8_t*>(&rsdp), 20);
    rsdp.ext_checksum = checksum_of(reinterpret_cast<const uint8_t*>(&rsdp), sizeof(rsdp));
    area.put(0, rsdp);

    TRY_CTX(mem.write(base, area.bytes()), "write the ACPI tables");
    return base;
}

} // namespace brood::x86
