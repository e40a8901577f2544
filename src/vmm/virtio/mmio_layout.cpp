#include "vmm/virtio/mmio_layout.hpp"

#include <fmt/format.h>

namespace brood::virtio {

std::string kernel_parameters(size_t count) {
    std::string out;
    for (size_t i = 0; i < count && i < kMaxDevices; ++i) {
        if (!out.empty()) out += ' ';
        out += fmt::format("virtio_mmio.device=4K@{:#x}:{}", mmio_address(i), kGsis[i]);
    }
    return out;
}

std::string with_kernel_parameters(const std::string& cmdline, size_t count) {
    if (count == 0 || cmdline.find("virtio_mmio.device=") != std::string::npos) return cmdline;
    auto params = kernel_parameters(count);
    return cmdline.empty() ? params : cmdline + ' ' + params;
}

} // namespace brood::virtio
