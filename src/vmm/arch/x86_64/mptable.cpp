#include "vmm/arch/x86_64/mptable.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "vmm/arch/x86_64/layout.hpp"

namespace brood::x86 {

namespace {

constexpr size_t kIoInterruptCount = 15; // ISA IRQs 0..15 without IRQ 2
constexpr size_t kLocalInterruptCount = 2;
constexpr uint8_t kIsaBusId = 0;

uint8_t checksum_of(const uint8_t* bytes, size_t len) {
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) sum = static_cast<uint8_t>(sum + bytes[i]);
    return static_cast<uint8_t>(-sum);
}

// Writes `len` chars of `text`, space-padded (MP ids are not NUL-terminated).
void put_id(char* dst, size_t len, const char* text) {
    std::memset(dst, ' ', len);
    std::memcpy(dst, text, std::min(len, std::strlen(text)));
}

class TableWriter final {
public:
    template <typename T>
    void append(const T& entry) {
        const auto* bytes = reinterpret_cast<const uint8_t*>(&entry);
        _bytes.insert(_bytes.end(), bytes, bytes + sizeof(T));
    }
    std::vector<uint8_t>& bytes() { return _bytes; }

private:
    std::vector<uint8_t> _bytes;
};

mp::InterruptEntry interrupt(mp::EntryType type, mp::IrqType irq_type, uint8_t src_irq,
                             uint8_t dst_id, uint8_t dst_pin) {
    mp::InterruptEntry e{};
    e.type = type;
    e.irq_type = irq_type;
    e.flags = 0;
    e.src_bus = kIsaBusId;
    e.src_irq = src_irq;
    e.dst_id = dst_id;
    e.dst_pin = dst_pin;
    return e;
}

} // namespace

size_t mptable_size(uint32_t vcpu_count) {
    return sizeof(mp::FloatingPointer) + sizeof(mp::ConfigHeader) +
           vcpu_count * sizeof(mp::ProcessorEntry) + sizeof(mp::BusEntry) +
           sizeof(mp::IoapicEntry) +
           (kIoInterruptCount + kLocalInterruptCount) * sizeof(mp::InterruptEntry);
}

Result<void> write_mptable(GuestMemory& mem, uint32_t vcpu_count, const MpCpuInfo& cpu) {
    if (vcpu_count == 0) return fail("an MP table needs at least one vCPU");
    if (vcpu_count > kMpMaxVcpus)
        return fail(fmt::format("{} vCPUs do not fit in an MP table (at most {})", vcpu_count,
                                kMpMaxVcpus));
    if (kMpTableAddr + mptable_size(vcpu_count) > kBiosAreaEnd)
        return fail(fmt::format("the MP table for {} vCPUs ({} bytes) does not fit below 1 MiB",
                                vcpu_count, mptable_size(vcpu_count)));

    const auto ioapic_id = static_cast<uint8_t>(vcpu_count);
    TableWriter table;
    table.append(mp::ConfigHeader{});
    for (uint32_t i = 0; i < vcpu_count; i++) {
        mp::ProcessorEntry p{};
        p.type = mp::Processor;
        p.lapic_id = static_cast<uint8_t>(i);
        p.lapic_version = mp::kLapicVersion;
        p.cpu_flags = static_cast<uint8_t>(mp::kCpuEnabled | (i == 0 ? mp::kCpuBootProcessor : 0));
        p.cpu_signature = cpu.signature;
        p.feature_flags = cpu.features;
        table.append(p);
    }
    mp::BusEntry bus{};
    bus.type = mp::Bus;
    bus.bus_id = kIsaBusId;
    std::memcpy(bus.bus_type, "ISA   ", sizeof(bus.bus_type));
    table.append(bus);

    mp::IoapicEntry ioapic{};
    ioapic.type = mp::Ioapic;
    ioapic.id = ioapic_id;
    ioapic.version = mp::kIoapicVersion;
    ioapic.flags = mp::kIoapicEnabled;
    ioapic.addr = static_cast<uint32_t>(kIoapicAddr);
    table.append(ioapic);

    for (uint8_t irq = 0; irq < 16; irq++) {
        if (irq == 2) continue; // the 8259 cascade
        uint8_t pin = irq == 0 ? kIsaIrq0IoapicPin : irq;
        table.append(interrupt(mp::IoInterrupt, mp::Int, irq, ioapic_id, pin));
    }
    table.append(interrupt(mp::LocalInterrupt, mp::ExtInt, 0, 0xFF, 0)); // LINT0
    table.append(interrupt(mp::LocalInterrupt, mp::Nmi, 0, 0xFF, 1));    // LINT1

    auto& bytes = table.bytes();
    mp::ConfigHeader header{};
    std::memcpy(header.signature, "PCMP", 4);
    header.base_length = static_cast<uint16_t>(bytes.size());
    header.spec_rev = mp::kSpecRev;
    put_id(header.oem_id, sizeof(header.oem_id), "BROOD");
    put_id(header.product_id, sizeof(header.product_id), "BROOD-VMM");
    header.entry_count = static_cast<uint16_t>(vcpu_count + 2 + kIoInterruptCount +
                                               kLocalInterruptCount);
    header.lapic_addr = static_cast<uint32_t>(kLapicAddr);
    std::memcpy(bytes.data(), &header, sizeof(header));
    bytes[offsetof(mp::ConfigHeader, checksum)] = checksum_of(bytes.data(), bytes.size());

    mp::FloatingPointer fp{};
    std::memcpy(fp.signature, "_MP_", 4);
    fp.config_table = static_cast<uint32_t>(kMpTableAddr + sizeof(fp));
    fp.length = 1;
    fp.spec_rev = mp::kSpecRev;
    fp.checksum = checksum_of(reinterpret_cast<const uint8_t*>(&fp), sizeof(fp));

    TRY_CTX(mem.write_obj(kMpTableAddr, fp), "write the MP floating pointer");
    TRY_CTX(mem.write(fp.config_table, bytes), "write the MP config table");
    return {};
}

} // namespace brood::x86
