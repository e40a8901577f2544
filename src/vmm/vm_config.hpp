// What a VM is made of, as given on the command line or read from a snapshot.
#pragma once

#include <cstdint>
#include <string>

namespace brood {

struct BootSource {
    std::string kernel_path;
    std::string initrd_path; // empty: none
    std::string cmdline;
};

struct MachineShape {
    uint64_t memory_mib = 128;
    uint32_t vcpus = 1;
};

constexpr uint64_t kMinMemoryMib = 16;

} // namespace brood
