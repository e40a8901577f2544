// virtio-blk requests through the transport: reads, writes, flush, get-id,
// read-only disks and requests outside the disk.
#include <gtest/gtest.h>

#include "file_hash.hpp"
#include "virtio_block_harness.hpp"

namespace brood::virtio {
namespace {

using namespace test;

constexpr uint64_t kDiskSize = 64 * 1024;

class BlockTest : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        path = make_image(dir.path(), "disk.img", kDiskSize);
        auto file = RawFile::open(path, read_only());
        ASSERT_TRUE(file) << file.error().message();
        driver = std::make_unique<BlockDriver>(std::move(*file));
        uint64_t features = driver->device_features();
        ASSERT_EQ(driver->initialise(features) & status::kDriverOk, status::kDriverOk);
    }
    bool read_only() const { return GetParam(); }

    TempDir dir;
    std::string path;
    std::unique_ptr<BlockDriver> driver;
};

TEST_P(BlockTest, ConfigSpaceGivesTheCapacity) {
    uint64_t capacity = 0;
    driver->transport.mmio_read(reg::kConfig, std::span(reinterpret_cast<uint8_t*>(&capacity), 8));
    EXPECT_EQ(capacity, kDiskSize / 512);
    EXPECT_EQ((driver->device_features() & blk::kFeatureRo) != 0, read_only());
    EXPECT_TRUE(driver->device_features() & kFeatureVersion1);
}

TEST_P(BlockTest, ReadsSectors) {
    EXPECT_EQ(driver->request(blk::kIn, 3, 1024, true), blk::kStatusOk);
    EXPECT_EQ(driver->last_used_len, 1025u);
    auto data = driver->buffer(1024);
    for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], static_cast<uint8_t>((3 * 512 + i) % 251)) << i;
    EXPECT_GT(driver->interrupts, 0);
    EXPECT_EQ(driver->read32(reg::kInterruptStatus) & kInterruptUsedBuffer, kInterruptUsedBuffer);
    driver->write32(reg::kInterruptAck, kInterruptUsedBuffer);
    EXPECT_EQ(driver->read32(reg::kInterruptStatus), 0u);
}

TEST_P(BlockTest, WritesSectorsUnlessReadOnly) {
    auto before = brood::test::file_hash(path);
    driver->fill_buffer(std::vector<uint8_t>(512, 0x5a));
    int status = driver->request(blk::kOut, 10, 512, false);
    if (read_only()) {
        EXPECT_EQ(status, blk::kStatusIoErr);
        EXPECT_EQ(brood::test::file_hash(path), before);
        return;
    }
    EXPECT_EQ(status, blk::kStatusOk);
    EXPECT_EQ(driver->request(blk::kFlush, 0, 0, false), blk::kStatusOk);
    EXPECT_EQ(driver->request(blk::kIn, 10, 512, true), blk::kStatusOk);
    EXPECT_EQ(driver->buffer(512), std::vector<uint8_t>(512, 0x5a));
    EXPECT_NE(brood::test::file_hash(path), before);
}

TEST_P(BlockTest, SectorsOutsideTheDiskFail) {
    EXPECT_EQ(driver->request(blk::kIn, kDiskSize / 512, 512, true), blk::kStatusIoErr);
    EXPECT_EQ(driver->request(blk::kIn, kDiskSize / 512 - 1, 1024, true), blk::kStatusIoErr);
    EXPECT_EQ(driver->request(blk::kIn, ~0ULL, 512, true), blk::kStatusIoErr) << "no overflow";
    EXPECT_EQ(driver->request(blk::kIn, kDiskSize / 512 - 1, 512, true), blk::kStatusOk);
}

TEST_P(BlockTest, PartialSectorsAndOversizedRequestsFail) {
    EXPECT_EQ(driver->request(blk::kIn, 0, 100, true), blk::kStatusIoErr);
    EXPECT_EQ(driver->request(blk::kIn, 0, static_cast<uint32_t>(blk::kMaxRequestBytes + 512), true),
              blk::kStatusIoErr);
}

TEST_P(BlockTest, GetIdAndUnknownRequests) {
    EXPECT_EQ(driver->request(blk::kGetId, 0, 20, true), blk::kStatusOk);
    auto id = driver->buffer(6);
    EXPECT_EQ(std::string(id.begin(), id.end()), "brood-");
    EXPECT_EQ(driver->request(99, 0, 0, false), blk::kStatusUnsupported);
}

TEST_P(BlockTest, ShortHeaderFailsTheRequestNotTheDevice) {
    driver->ring.set_desc(0, {kHeaderAddr, 8, kDescNext, 1});
    driver->ring.set_desc(1, {kStatusAddr, 1, kDescWrite, 0});
    driver->ring.make_available(0);
    driver->transport.on_notify(0);
    EXPECT_EQ(driver->ring.used_idx(), 1);
    EXPECT_EQ(driver->ring.read<uint8_t>(kStatusAddr), blk::kStatusIoErr);
    EXPECT_FALSE(driver->transport.failed());
}

TEST_P(BlockTest, ChainWithoutStatusByteStopsTheDevice) {
    driver->ring.set_desc(0, {kHeaderAddr, 16, 0, 0});
    driver->ring.make_available(0);
    driver->transport.on_notify(0);
    EXPECT_TRUE(driver->transport.failed());
    EXPECT_TRUE(driver->read32(reg::kStatus) & status::kNeedsReset);
    EXPECT_TRUE(driver->read32(reg::kInterruptStatus) & kInterruptConfigChange);
    // A failed device ignores the queue until the driver resets it.
    EXPECT_EQ(driver->request(blk::kIn, 0, 512, true), -1);
    EXPECT_NE(driver->initialise(driver->device_features()) & status::kDriverOk, 0u);
    EXPECT_FALSE(driver->transport.failed());
    EXPECT_EQ(driver->request(blk::kIn, 0, 512, true), blk::kStatusOk);
}

INSTANTIATE_TEST_SUITE_P(Disk, BlockTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "ReadOnly" : "Writable"; });

} // namespace
} // namespace brood::virtio
