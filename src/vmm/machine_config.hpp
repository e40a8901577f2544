// The machine section of a snapshot: the shape a restore builds before any
// other section can be restored, and how the VM first booted.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood {

struct MachineConfig {
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 0;
    std::string boot_description; // JSON: kernel, initrd, cmdline of the original boot

    MachineConfig save() const { return *this; }
    // A restored machine is built from this section: it must describe it.
    Result<void> check(const MachineConfig& saved) const;
    void restore(const MachineConfig& saved) { boot_description = saved.boot_description; }
};

struct MachineConfigCodec {
    using State = MachineConfig;
    static constexpr snapshot::SectionKind kind{1, 1, "machine"};
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

} // namespace brood
