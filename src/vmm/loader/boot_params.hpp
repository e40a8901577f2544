// The Linux x86 boot protocol's zero page ("struct boot_params") and the
// setup header inside it, as documented in Documentation/arch/x86/boot.rst.
// Only the fields brood reads or writes are named; the rest is padding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace brood::loader::linux_boot {

inline constexpr uint32_t kHeaderMagic = 0x53726448; // "HdrS"
inline constexpr uint16_t kBootFlag = 0xAA55;
inline constexpr uint16_t kMinVersion = 0x020C; // 2.12: xloadflags
inline constexpr uint16_t kAcpiRsdpMinVersion = 0x020E; // 2.14: acpi_rsdp_addr
inline constexpr size_t kSetupHeaderOffset = 0x1F1;
inline constexpr size_t kHeaderMagicOffset = 0x202;
inline constexpr size_t kSetupHeaderMinEnd = 0x268; // end of the 2.12 header
inline constexpr size_t kSetupHeaderMaxEnd = 0x290; // edd_mbr_sig_buffer follows
inline constexpr uint8_t kDefaultSetupSects = 4;    // setup_sects == 0 means 4
inline constexpr uint32_t kDefaultInitrdAddrMax = 0x37FFFFFF;
inline constexpr uint64_t kEntry64Offset = 0x200; // startup_64, from the load address

// loadflags
inline constexpr uint8_t kLoadedHigh = 0x01;
inline constexpr uint8_t kCanUseHeap = 0x80;
// xloadflags
inline constexpr uint16_t kXlfKernel64 = 0x01;

inline constexpr uint8_t kLoaderUndefined = 0xFF; // type_of_loader: not a registered loader
inline constexpr uint16_t kVidModeNormal = 0xFFFF;
inline constexpr uint16_t kHeapEndPtr = 0xFE00 - 0x200;
inline constexpr size_t kE820MaxEntries = 128;

struct __attribute__((packed)) SetupHeader {
    uint8_t setup_sects;       // 0x1F1
    uint16_t root_flags;       // 0x1F2
    uint32_t syssize;          // 0x1F4
    uint16_t ram_size;         // 0x1F8
    uint16_t vid_mode;         // 0x1FA
    uint16_t root_dev;         // 0x1FC
    uint16_t boot_flag;        // 0x1FE
    uint16_t jump;             // 0x200
    uint32_t header;           // 0x202
    uint16_t version;          // 0x206
    uint32_t realmode_swtch;   // 0x208
    uint16_t start_sys_seg;    // 0x20C
    uint16_t kernel_version;   // 0x20E
    uint8_t type_of_loader;    // 0x210
    uint8_t loadflags;         // 0x211
    uint16_t setup_move_size;  // 0x212
    uint32_t code32_start;     // 0x214
    uint32_t ramdisk_image;    // 0x218
    uint32_t ramdisk_size;     // 0x21C
    uint32_t bootsect_kludge;  // 0x220
    uint16_t heap_end_ptr;     // 0x224
    uint8_t ext_loader_ver;    // 0x226
    uint8_t ext_loader_type;   // 0x227
    uint32_t cmd_line_ptr;     // 0x228
    uint32_t initrd_addr_max;  // 0x22C
    uint32_t kernel_alignment; // 0x230
    uint8_t relocatable_kernel; // 0x234
    uint8_t min_alignment;     // 0x235
    uint16_t xloadflags;       // 0x236
    uint32_t cmdline_size;     // 0x238
    uint32_t hardware_subarch; // 0x23C
    uint64_t hardware_subarch_data; // 0x240
    uint32_t payload_offset;   // 0x248
    uint32_t payload_length;   // 0x24C
    uint64_t setup_data;       // 0x250
    uint64_t pref_address;     // 0x258
    uint32_t init_size;        // 0x260
    uint32_t handover_offset;  // 0x264
    uint32_t kernel_info_offset; // 0x268
};
static_assert(sizeof(SetupHeader) == 0x26C - kSetupHeaderOffset);

struct __attribute__((packed)) E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};
static_assert(sizeof(E820Entry) == 20);

struct __attribute__((packed)) ZeroPage {
    uint8_t before_rsdp[0x70];   // screen_info, apm_bios_info, tboot_addr, ist_info
    uint64_t acpi_rsdp_addr;     // 0x070
    uint8_t before_ext[0xC0 - 0x78];
    uint32_t ext_ramdisk_image;  // 0x0C0
    uint32_t ext_ramdisk_size;   // 0x0C4
    uint32_t ext_cmd_line_ptr;   // 0x0C8
    uint8_t before_e820_entries[0x1E8 - 0xCC];
    uint8_t e820_entries;        // 0x1E8
    uint8_t before_sentinel[0x1EF - 0x1E9];
    uint8_t sentinel;            // 0x1EF: must stay 0
    uint8_t pad;                 // 0x1F0
    SetupHeader hdr;             // 0x1F1
    uint8_t before_e820[0x2D0 - 0x26C];
    E820Entry e820_table[kE820MaxEntries]; // 0x2D0
    uint8_t rest[0x1000 - 0x2D0 - kE820MaxEntries * sizeof(E820Entry)];
};
static_assert(sizeof(ZeroPage) == 4096);
static_assert(offsetof(ZeroPage, ext_ramdisk_image) == 0xC0);
static_assert(offsetof(ZeroPage, e820_entries) == 0x1E8);
static_assert(offsetof(ZeroPage, hdr) == kSetupHeaderOffset);
static_assert(offsetof(ZeroPage, e820_table) == 0x2D0);

} // namespace brood::loader::linux_boot
