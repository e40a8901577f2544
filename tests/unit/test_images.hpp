// Synthetic kernel images for loader tests: small bzImages and ELF files
// built byte by byte, with knobs to make them subtly or grossly wrong.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace brood::test {

inline constexpr uint64_t kMiB = 1024 * 1024;

template <typename T>
void put(std::vector<uint8_t>& bytes, size_t offset, T value) {
    if (bytes.size() < offset + sizeof(T)) bytes.resize(offset + sizeof(T));
    std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <typename T>
T get(const uint8_t* bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes + offset, sizeof(T));
    return value;
}

// Recognizable payload bytes: byte i is (i * 7 + seed) & 0xFF.
std::vector<uint8_t> pattern(size_t size, uint8_t seed);

struct BzImageSpec {
    uint16_t version = 0x020F;
    uint8_t setup_sects = 4;
    uint8_t loadflags = 0x01;      // LOADED_HIGH
    uint16_t xloadflags = 0x03;    // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
    uint32_t cmdline_size = 2047;
    uint32_t initrd_addr_max = 0x7FFFFFFF;
    uint32_t kernel_alignment = 0x200000;
    uint64_t pref_address = 0x1000000; // 16 MiB
    uint32_t init_size = 4 * kMiB;
    uint16_t root_dev = 0x0301;       // copied through to the zero page
    size_t payload_size = 64 * 1024;
};
std::vector<uint8_t> make_bzimage(const BzImageSpec& spec = {});

struct ElfSegment {
    uint64_t paddr = 0;
    std::vector<uint8_t> data;
    uint64_t memsz = 0; // >= data.size(); the rest is bss
};

struct ElfSpec {
    bool elf32 = false;
    uint16_t machine = 0; // 0: EM_X86_64 or EM_386 to match elf32
    uint16_t type = 2;    // ET_EXEC
    uint64_t entry = 0x100000;
    std::vector<ElfSegment> segments;
    std::optional<uint64_t> pvh_entry;
    uint32_t pvh_desc_size = 4;   // 4 or 8 (Linux uses 8 on x86-64)
    bool other_note_first = true; // a GNU note before the Xen one
};
std::vector<uint8_t> make_elf(const ElfSpec& spec);

// A typical small PVH kernel: code at 1 MiB, data + bss after it.
ElfSpec small_pvh_kernel();

} // namespace brood::test
