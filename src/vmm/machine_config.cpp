#include "vmm/machine_config.hpp"

namespace brood {

Result<void> MachineConfig::check(const MachineConfig& saved) const {
    if (saved.memory_bytes != memory_bytes || saved.vcpus != vcpus)
        return fail("the machine section does not describe the machine being restored");
    return {};
}

void MachineConfigCodec::encode(const State& s, snapshot::ByteWriter& w) {
    w.u64(s.memory_bytes);
    w.u32(s.vcpus);
    w.str(s.boot_description);
}

Result<MachineConfig> MachineConfigCodec::decode(snapshot::ByteReader& r, uint32_t) {
    MachineConfig c;
    c.memory_bytes = TRY(r.u64());
    c.vcpus = TRY(r.u32());
    c.boot_description = TRY(r.str());
    if (c.memory_bytes == 0 || c.memory_bytes % (1 << 20) != 0) return fail("state file has an invalid memory size");
    if (c.vcpus == 0) return fail("state file describes 0 vCPUs");
    return c;
}

} // namespace brood
