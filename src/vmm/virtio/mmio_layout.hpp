// Where virtio-mmio devices sit for the guest: the n-th device added to a
// machine gets a 4 KiB window at kBase + n * 4 KiB in the MMIO gap and the
// n-th interrupt line of kGsis. The DSDT declares them to the guest (Linux's
// virtio_mmio driver binds to them as LNRO0005 devices). A kernel told
// acpi=off reads no DSDT: it gets them on its command line instead
// (virtio_mmio.device=4K@<addr>:<gsi>, for kernels built with
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace brood::virtio {

constexpr uint64_t kMmioBase = 0xd000'0000;
constexpr uint64_t kMmioStride = 0x1000;
// ISA lines no device of this machine uses and Linux does not probe: not
// 0 (PIT), 1 (keyboard), 2 (cascade), 3/4 (serial), 8 (RTC), 9 (ACPI SCI),
// 12 (mouse), 13 (FPU). The MP table and MADT route them straight through,
// edge-triggered, active-high.
constexpr std::array<uint32_t, 6> kGsis{5, 6, 7, 10, 11, 14};
constexpr size_t kMaxDevices = kGsis.size();

constexpr uint64_t mmio_address(size_t slot) { return kMmioBase + slot * kMmioStride; }

// The kernel parameters that declare `count` devices, space-separated.
std::string kernel_parameters(size_t count);
// `cmdline` with those parameters appended if it turns ACPI off and does
// not already declare virtio-mmio devices itself; else `cmdline` as it is.
std::string with_kernel_parameters(const std::string& cmdline, size_t count);

} // namespace brood::virtio
