// The kernel loaders (ELF with or without a PVH note, bzImage) and the rest
// of a cold boot's guest-memory set-up. The first byte picks the initrd size,
// vCPU count and entry point; the rest is the kernel image.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "vmm/loader/loader.hpp"

using namespace brood;

namespace {
constexpr uint64_t kRam = 64ull << 20;

GuestMemory& memory() {
    static GuestMemory mem = [] {
        auto m = GuestMemory::anonymous(kRam);
        if (!m) std::abort();
        return std::move(*m);
    }();
    return mem;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    uint8_t flags = data[0];
    std::span<const uint8_t> image(data + 1, size - 1);
    std::vector<uint8_t> initrd(static_cast<size_t>(flags & 0x3) * 4096, 0x5a);
    loader::BootParams p;
    p.cmdline = "console=ttyS0";
    if (flags & 0x4) p.initrd = std::span<const uint8_t>(initrd);
    p.vcpu_count = 1 + ((flags >> 3) & 0x3);
    if (flags & 0x80)
        (void)loader::prepare_boot(image, p, memory());
    else
        (void)loader::load_kernel(image, p, memory());
    return 0;
}
