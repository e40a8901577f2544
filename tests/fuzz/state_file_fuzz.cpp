// The snapshot state file: the container and every section a restore
// decodes. Inputs that start with the magic get their checksum fixed, so the
// fuzzer reaches the sections instead of stopping at the CRC.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/snapshot/machine_state.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood::snapshot {
uint32_t crc32(std::span<const uint8_t> data);
}

using namespace brood::snapshot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> raw(data, size);
    (void)decode_state_file(raw);
    (void)decode_snapshot(raw);
    if (size >= sizeof(kMagic) + 16 && std::memcmp(data, kMagic, sizeof(kMagic)) == 0) {
        std::vector<uint8_t> fixed(data, data + size);
        uint32_t crc = crc32(std::span(fixed).first(size - 4));
        std::memcpy(fixed.data() + size - 4, &crc, 4);
        (void)decode_state_file(fixed);
        (void)decode_snapshot(fixed);
    }
    return 0;
}
