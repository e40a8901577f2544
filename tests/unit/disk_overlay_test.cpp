// The copy-on-write overlay: its file format (and hostile files), and a
// disk made of an overlay above a base image that is never written.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/disk_overlay.hpp"
#include "file_hash.hpp"
#include "virtio_block_harness.hpp"
#include "vmm/virtio/overlay_file.hpp"

namespace brood {
namespace {

using virtio::test::make_image;
using virtio::test::TempDir;

constexpr uint64_t kDiskSize = 3 * 4096 + 1024; // the last block is partial
constexpr uint32_t kBlock = 4096;

Result<void> read_at(virtio::BlockBackend& disk, uint64_t offset, std::vector<uint8_t>& out) {
    std::span<uint8_t> s(out);
    return disk.read(offset, std::span(&s, 1));
}
Result<void> write_at(virtio::BlockBackend& disk, uint64_t offset, std::vector<uint8_t> bytes) {
    std::span<uint8_t> s(bytes);
    return disk.write(offset, std::span(&s, 1));
}

void patch(const std::string& path, uint64_t offset, std::vector<uint8_t> bytes) {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}

TEST(OverlayFormat, HeaderRoundTrips) {
    auto h = overlay::make_header(kDiskSize, kBlock);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->block_count, 4u);
    EXPECT_EQ(h->data_offset % kBlock, 0u);
    auto bytes = overlay::encode_header(*h);
    auto back = overlay::decode_header(bytes);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->disk_size, kDiskSize);
    EXPECT_EQ(back->block_size, kBlock);
}

TEST(OverlayFormat, HostileHeadersAreRefused) {
    auto good = overlay::encode_header(*overlay::make_header(kDiskSize, kBlock));
    auto expect_refused = [](std::vector<uint8_t> bytes, const char* what, const char* why) {
        auto r = overlay::decode_header(bytes);
        ASSERT_FALSE(r) << why;
        EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
    };
    auto bad = good;
    bad[0] = 'X';
    expect_refused(bad, "magic", "magic");
    bad = good;
    bad[20] ^= 1; // disk size, checksum not updated
    expect_refused(bad, "checksum", "checksum");
    expect_refused(std::vector<uint8_t>(good.begin(), good.begin() + 100), "shorter", "truncated");
    EXPECT_FALSE(overlay::make_header(kDiskSize, 1000)) << "block size not a power of two";
    EXPECT_FALSE(overlay::make_header(1000, kBlock)) << "disk size not sector-aligned";
    EXPECT_FALSE(overlay::make_header(0, kBlock)) << "empty disk";
}

class OverlayDiskTest : public ::testing::Test {
protected:
    void SetUp() override {
        base = make_image(dir.path(), "base.img", kDiskSize);
        layer = dir.path() + "/layer.ovl";
        ASSERT_TRUE(overlay::create(layer, kDiskSize, kBlock));
        base_hash = brood::test::file_hash(base);
    }
    std::unique_ptr<virtio::OverlayFile> open(bool read_only = false) {
        auto disk = virtio::OverlayFile::open(layer, base, read_only);
        EXPECT_TRUE(disk) << disk.error().message();
        return disk ? std::move(*disk) : nullptr;
    }
    TempDir dir;
    std::string base, layer;
    uint64_t base_hash = 0;
};

TEST_F(OverlayDiskTest, ReadsComeFromTheBaseUntilWritten) {
    auto disk = open();
    ASSERT_TRUE(disk);
    std::vector<uint8_t> out(kDiskSize);
    ASSERT_TRUE(read_at(*disk, 0, out));
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<uint8_t>(i % 251)) << i;
}

TEST_F(OverlayDiskTest, WritesCopyUpAndNeverTouchTheBase) {
    {
        auto disk = open();
        ASSERT_TRUE(disk);
        // Across a block boundary, partial at both ends, and the partial last block.
        ASSERT_TRUE(write_at(*disk, kBlock - 512, std::vector<uint8_t>(1024, 0xab)));
        ASSERT_TRUE(write_at(*disk, kDiskSize - 512, std::vector<uint8_t>(512, 0xcd)));
        ASSERT_TRUE(disk->flush());
        EXPECT_TRUE(disk->allocated(0));
        EXPECT_TRUE(disk->allocated(1));
        EXPECT_FALSE(disk->allocated(2));
        EXPECT_TRUE(disk->allocated(3));
        EXPECT_FALSE(write_at(*disk, kDiskSize - 512, std::vector<uint8_t>(1024, 0))) << "past the end";
    }
    EXPECT_EQ(brood::test::file_hash(base), base_hash);
    auto disk = open(true); // reopened: the bitmap was saved
    ASSERT_TRUE(disk);
    std::vector<uint8_t> out(kDiskSize);
    ASSERT_TRUE(read_at(*disk, 0, out));
    for (size_t i = 0; i < out.size(); ++i) {
        uint8_t want = static_cast<uint8_t>(i % 251);
        if (i >= kBlock - 512 && i < kBlock + 512) want = 0xab;
        if (i >= kDiskSize - 512) want = 0xcd;
        ASSERT_EQ(out[i], want) << i;
    }
    EXPECT_FALSE(write_at(*disk, 0, std::vector<uint8_t>(512, 1))) << "opened read-only";
}

TEST_F(OverlayDiskTest, OverlayForAnotherDiskSizeIsRefused) {
    auto other = make_image(dir.path(), "other.img", kDiskSize + 4096);
    auto disk = virtio::OverlayFile::open(layer, other, false);
    ASSERT_FALSE(disk);
    EXPECT_NE(disk.error().message().find("bytes"), std::string::npos) << disk.error().message();
}

TEST_F(OverlayDiskTest, TruncatedOverlayIsRefused) {
    ASSERT_EQ(::truncate(layer.c_str(), 4096 + 0), 0);
    auto disk = virtio::OverlayFile::open(layer, base, false);
    ASSERT_FALSE(disk);
    EXPECT_NE(disk.error().message().find("truncated"), std::string::npos) << disk.error().message();
}

TEST_F(OverlayDiskTest, BitmapBitsPastTheEndAreRefused) {
    patch(layer, overlay::kHeaderSize, {0xf0});
    auto disk = virtio::OverlayFile::open(layer, base, false);
    ASSERT_FALSE(disk);
    EXPECT_NE(disk.error().message().find("past the end"), std::string::npos) << disk.error().message();
}

TEST_F(OverlayDiskTest, CorruptHeaderIsRefusedWithItsPath) {
    patch(layer, 0, {'N', 'O', 'P', 'E'});
    auto disk = virtio::OverlayFile::open(layer, base, false);
    ASSERT_FALSE(disk);
    EXPECT_NE(disk.error().message().find(layer), std::string::npos) << disk.error().message();
    EXPECT_NE(disk.error().message().find("magic"), std::string::npos) << disk.error().message();
}

TEST_F(OverlayDiskTest, CreateRefusesAnExistingFile) { EXPECT_FALSE(overlay::create(layer, kDiskSize, kBlock)); }

} // namespace
} // namespace brood
