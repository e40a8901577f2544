// The machine section of a snapshot: the shape a restore builds before any
// other section can be restored, and how the VM first booted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood {

// What a restore needs to know of a disk before it is opened.
struct DiskShape {
    uint64_t size = 0; // bytes
    bool read_only = false;
    bool operator==(const DiskShape&) const = default;
};

struct MachineConfig {
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 0;
    std::string boot_description; // JSON: kernel, initrd, cmdline of the original boot
    std::vector<DiskShape> disks; // block devices, in virtio-mmio slot order

    MachineConfig save() const { return *this; }
    // A restored machine is built from this section: it must describe it.
    Result<void> check(const MachineConfig& saved) const;
    void restore(const MachineConfig& saved) { boot_description = saved.boot_description; }
};

// Whether the disks given to a restore have the shape the snapshot recorded.
Result<void> check_disks_match(const std::vector<DiskShape>& saved, const std::vector<DiskShape>& given);

struct MachineConfigCodec {
    using State = MachineConfig;
    // Version 2 adds the disks; version 1 files have none.
    static constexpr snapshot::SectionKind kind{1, 2, "machine"};
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

} // namespace brood
