// The per-format loaders behind load_kernel() (internal to the loader).
#pragma once

#include <cstdint>
#include <span>

#include "common/result.hpp"
#include "vmm/loader/kernel_image.hpp"
#include "vmm/loader/loader.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::loader {

bool looks_like_elf(std::span<const uint8_t> image);
bool looks_like_bzimage(std::span<const uint8_t> image);

Result<KernelEntry> load_elf(const KernelImage& image, const BootParams& p, GuestMemory& mem);
Result<KernelEntry> load_bzimage(const KernelImage& image, const BootParams& p, GuestMemory& mem);

} // namespace brood::loader
