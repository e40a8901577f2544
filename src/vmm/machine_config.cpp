#include "vmm/machine_config.hpp"

#include <fmt/format.h>

namespace brood {
namespace {
constexpr uint32_t kMaxDisks = 64;
}

Result<void> check_disks_match(const std::vector<DiskShape>& saved, const std::vector<DiskShape>& given) {
    if (saved.size() != given.size())
        return fail(fmt::format("the snapshot was taken with {} disks, {} given (--disk)", saved.size(), given.size()));
    for (size_t i = 0; i < saved.size(); ++i) {
        if (saved[i].size != given[i].size)
            return fail(fmt::format("disk {} has {} bytes, the snapshot was taken with {} bytes", i, given[i].size,
                                    saved[i].size));
        if (saved[i].read_only != given[i].read_only)
            return fail(fmt::format("disk {} is given {}, the snapshot was taken with it {}", i,
                                    given[i].read_only ? "read-only" : "writable",
                                    saved[i].read_only ? "read-only" : "writable"));
    }
    return {};
}

Result<void> MachineConfig::check(const MachineConfig& saved) const {
    if (saved.memory_bytes != memory_bytes || saved.vcpus != vcpus || saved.disks != disks)
        return fail("the machine section does not describe the machine being restored");
    return {};
}

void MachineConfigCodec::encode(const State& s, snapshot::ByteWriter& w) {
    w.u64(s.memory_bytes);
    w.u32(s.vcpus);
    w.str(s.boot_description);
    w.u32(static_cast<uint32_t>(s.disks.size()));
    for (const auto& d : s.disks) {
        w.u64(d.size);
        w.u8(d.read_only ? 1 : 0);
    }
}

Result<MachineConfig> MachineConfigCodec::decode(snapshot::ByteReader& r, uint32_t version) {
    MachineConfig c;
    c.memory_bytes = TRY(r.u64());
    c.vcpus = TRY(r.u32());
    c.boot_description = TRY(r.str());
    if (version >= 2) {
        uint32_t count = TRY(r.u32());
        if (count > kMaxDisks) return fail(fmt::format("state file describes {} disks, at most {}", count, kMaxDisks));
        for (uint32_t i = 0; i < count; ++i) {
            DiskShape d;
            d.size = TRY(r.u64());
            uint8_t ro = TRY(r.u8());
            if (ro > 1 || d.size == 0 || d.size % 512 != 0)
                return fail(fmt::format("state file describes disk {} wrongly", i));
            d.read_only = ro == 1;
            c.disks.push_back(d);
        }
    }
    if (c.memory_bytes == 0 || c.memory_bytes % (1 << 20) != 0) return fail("state file has an invalid memory size");
    if (c.vcpus == 0) return fail("state file describes 0 vCPUs");
    return c;
}

} // namespace brood
