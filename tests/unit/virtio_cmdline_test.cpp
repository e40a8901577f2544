// How disks are named on brood-vmm's command line and declared to Linux.
#include <gtest/gtest.h>

#include "vmm/disk_config.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/virtio/mmio_layout.hpp"

namespace brood {
namespace {

TEST(DiskArgs, PathAndOptions) {
    auto plain = parse_disk_arg("/a/disk.img");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->path, "/a/disk.img");
    EXPECT_FALSE(plain->read_only);
    EXPECT_TRUE(plain->base.empty());
    auto both = parse_disk_arg("/a/layer,ro,base=/b/base.img");
    ASSERT_TRUE(both);
    EXPECT_TRUE(both->read_only);
    EXPECT_EQ(both->base, "/b/base.img");
    EXPECT_FALSE(parse_disk_arg(""));
    EXPECT_FALSE(parse_disk_arg(",ro"));
    EXPECT_FALSE(parse_disk_arg("/a,rw"));
    EXPECT_FALSE(parse_disk_arg("/a,base="));
}

TEST(DiskArgs, TooManyDisksAreRefused) {
    std::vector<DiskConfig> disks(virtio::kMaxDevices + 1, DiskConfig{"/nonexistent", false, ""});
    auto r = open_disks(disks);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("at most"), std::string::npos) << r.error().message();
}

TEST(VirtioCmdline, WithAcpiTheDsdtAloneDeclaresTheDevices) {
    EXPECT_EQ(virtio::with_kernel_parameters("console=ttyS0", 2), "console=ttyS0")
        << "a kernel with both would register each device twice";
    EXPECT_EQ(virtio::with_kernel_parameters("console=ttyS0 xacpi=offx", 1), "console=ttyS0 xacpi=offx");
    EXPECT_EQ(virtio::with_kernel_parameters("acpi=offline", 1), "acpi=offline");
}

TEST(VirtioCmdline, WithoutAcpiTheCommandLineDeclaresEachDeviceOnce) {
    EXPECT_EQ(virtio::with_kernel_parameters("acpi=off", 0), "acpi=off");
    EXPECT_EQ(virtio::with_kernel_parameters("console=ttyS0 acpi=off", 2),
              "console=ttyS0 acpi=off virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
    EXPECT_EQ(virtio::with_kernel_parameters("acpi=off quiet", 1), "acpi=off quiet virtio_mmio.device=4K@0xd0000000:5");
    std::string own = "acpi=off virtio_mmio.device=4K@0xd0000000:9";
    EXPECT_EQ(virtio::with_kernel_parameters(own, 1), own) << "the user's own declaration wins";
}

TEST(VirtioCmdline, SlotsStayInTheMmioGapAndOffLegacyLines) {
    for (size_t i = 0; i < virtio::kMaxDevices; ++i) {
        EXPECT_GE(virtio::mmio_address(i), GuestLayout::kMmioGapStart);
        EXPECT_LT(virtio::mmio_address(i) + 0x1000, 0xfec0'0000ULL) << "below the IOAPIC";
        for (uint32_t used : {0u, 1u, 2u, 3u, 4u, 8u, 9u, 12u, 13u}) EXPECT_NE(virtio::kGsis[i], used);
    }
}

} // namespace
} // namespace brood
