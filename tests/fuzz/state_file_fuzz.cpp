// The snapshot state file: the container and every section codec a restore
// uses. Inputs that start with the magic get their checksum fixed, so the
// fuzzer reaches the sections instead of stopping at the CRC.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/devices/acpi_pm.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/machine_config.hpp"
#include "vmm/snapshot/state_file.hpp"
#include "vmm/virtio/device.hpp"
#include "vmm/virtio/transport_state.hpp"

namespace brood::snapshot {
uint32_t crc32(std::span<const uint8_t> data);
}

using namespace brood::snapshot;

namespace {

template <typename Codec>
void try_codec(const Section& section) {
    if (section.id != Codec::kind.id) return;
    ByteReader reader(section.payload, Codec::kind.name);
    (void)Codec::decode(reader, section.version);
}

void decode_all(std::span<const uint8_t> raw) {
    auto sections = decode_state_file(raw);
    if (!sections) return;
    for (const auto& section : *sections) {
        try_codec<brood::MachineConfigCodec>(section);
        try_codec<brood::kvm::VmStateCodec>(section);
        try_codec<brood::kvm::VcpuCodec>(section);
        try_codec<brood::devices::SerialCodec>(section);
        try_codec<brood::devices::I8042Codec>(section);
        try_codec<brood::devices::AcpiPmCodec>(section);
        if (section.id == brood::virtio::section_id::kBlock) {
            ByteReader reader(section.payload, "virtio-block");
            (void)brood::virtio::decode_transport(reader);
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> raw(data, size);
    decode_all(raw);
    if (size >= sizeof(kMagic) + 16 && std::memcmp(data, kMagic, sizeof(kMagic)) == 0) {
        std::vector<uint8_t> fixed(data, data + size);
        uint32_t crc = crc32(std::span(fixed).first(size - 4));
        std::memcpy(fixed.data() + size - 4, &crc, 4);
        decode_all(fixed);
    }
    return 0;
}
