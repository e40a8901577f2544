#include "vmm/virtio/mmio_layout.hpp"

#include <fmt/format.h>

namespace brood::virtio {

namespace {

bool turns_acpi_off(const std::string& cmdline) {
    for (size_t at = cmdline.find("acpi=off"); at != std::string::npos; at = cmdline.find("acpi=off", at + 1)) {
        const bool starts_word = at == 0 || cmdline[at - 1] == ' ';
        const size_t end = at + 8;
        if (starts_word && (end == cmdline.size() || cmdline[end] == ' ')) return true;
    }
    return false;
}

} // namespace

std::string kernel_parameters(size_t count) {
    std::string out;
    for (size_t i = 0; i < count && i < kMaxDevices; ++i) {
        if (!out.empty()) out += ' ';
        out += fmt::format("virtio_mmio.device=4K@{:#x}:{}", mmio_address(i), kGsis[i]);
    }
    return out;
}

std::string with_kernel_parameters(const std::string& cmdline, size_t count) {
    if (count == 0 || cmdline.find("virtio_mmio.device=") != std::string::npos || !turns_acpi_off(cmdline))
        return cmdline;
    auto params = kernel_parameters(count);
    return cmdline.empty() ? params : cmdline + ' ' + params;
}

} // namespace brood::virtio
