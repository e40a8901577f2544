// The virtio-mmio register window as Linux's virtio_mmio driver uses it,
// feature negotiation, and the transport's snapshot state.
#include <gtest/gtest.h>

#include "virtio_block_harness.hpp"
#include "vmm/snapshot/bytes.hpp"

namespace brood::virtio {
namespace {

using namespace test;

class TransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        path = make_image(dir.path(), "disk.img", 8192);
        auto file = RawFile::open(path, false);
        ASSERT_TRUE(file) << file.error().message();
        driver = std::make_unique<BlockDriver>(std::move(*file));
    }
    TempDir dir;
    std::string path;
    std::unique_ptr<BlockDriver> driver;
};

TEST_F(TransportTest, IdentifiesAsAModernBlockDevice) {
    EXPECT_EQ(driver->read32(reg::kMagic), 0x74726976u);
    EXPECT_EQ(driver->read32(reg::kVersion), 2u);
    EXPECT_EQ(driver->read32(reg::kDeviceId), 2u);
    EXPECT_EQ(driver->read32(reg::kVendorId), kVendorId);
    driver->write32(reg::kQueueSel, 0);
    EXPECT_EQ(driver->read32(reg::kQueueNumMax), Block::kQueueSize);
    driver->write32(reg::kQueueSel, 1);
    EXPECT_EQ(driver->read32(reg::kQueueNumMax), 0u) << "no second queue";
}

TEST_F(TransportTest, DriverWithoutVersion1IsRefused) {
    uint64_t features = driver->device_features() & ~kFeatureVersion1;
    EXPECT_EQ(driver->initialise(features) & status::kFeaturesOk, 0u);
}

TEST_F(TransportTest, FeaturesTheDeviceDidNotOfferAreRefused) {
    uint64_t features = driver->device_features() | (1ULL << 28); // VIRTIO_F_INDIRECT_DESC
    EXPECT_EQ(driver->initialise(features) & status::kFeaturesOk, 0u);
}

TEST_F(TransportTest, QueueOutsideRamIsNotMadeReady) {
    driver->write32(reg::kQueueSel, 0);
    driver->write32(reg::kQueueNum, 16);
    driver->write32(reg::kQueueDescLow, 0);
    driver->write32(reg::kQueueDescHigh, 0x10); // 64 GiB
    driver->write32(reg::kQueueReady, 1);
    EXPECT_EQ(driver->read32(reg::kQueueReady), 0u);
}

TEST_F(TransportTest, UnalignedOrNarrowRegisterAccessesAreIgnored) {
    uint8_t byte = 0x42;
    driver->transport.mmio_read(reg::kMagic, std::span(&byte, 1));
    EXPECT_EQ(byte, 0);
    uint16_t half = 0xffff;
    driver->transport.mmio_write(reg::kStatus, std::span(reinterpret_cast<uint8_t*>(&half), 2));
    EXPECT_EQ(driver->read32(reg::kStatus), 0u);
}

TEST_F(TransportTest, StatusZeroResetsTheDevice) {
    ASSERT_NE(driver->initialise(driver->device_features()) & status::kDriverOk, 0u);
    driver->write32(reg::kStatus, 0);
    EXPECT_EQ(driver->read32(reg::kStatus), 0u);
    driver->write32(reg::kQueueSel, 0);
    EXPECT_EQ(driver->read32(reg::kQueueReady), 0u);
}

TEST_F(TransportTest, SnapshotStateRoundTripsAndCarriesOn) {
    ASSERT_NE(driver->initialise(driver->device_features()) & status::kDriverOk, 0u);
    ASSERT_EQ(driver->request(blk::kIn, 0, 512, true), blk::kStatusOk);
    auto saved = driver->transport.save();
    snapshot::ByteWriter w;
    encode_transport(saved, w);
    snapshot::ByteReader r(w.bytes(), "test");
    auto decoded = decode_transport(r);
    ASSERT_TRUE(decoded) << decoded.error().message();
    EXPECT_EQ(decoded->queues.at(0).next_avail, 1);

    // A second device in a second "machine" with the same RAM contents.
    auto file = RawFile::open(path, false);
    ASSERT_TRUE(file);
    BlockDriver other(std::move(*file));
    std::vector<uint8_t> ram(kRamSize);
    ASSERT_TRUE(driver->memory.read(0, ram));
    ASSERT_TRUE(other.memory.write(0, ram));
    ASSERT_TRUE(other.transport.check(*decoded));
    auto restored = other.transport.restore(*decoded, 1);
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_NE(other.read32(reg::kStatus) & status::kDriverOk, 0u);
    // The ring carries on where the first device left it.
    other.ring.assume_available(1);
    EXPECT_EQ(other.request(blk::kIn, 1, 512, true), blk::kStatusOk);
    EXPECT_EQ(other.ring.used_idx(), 2);
}

TEST_F(TransportTest, HostileSnapshotStateIsRefused) {
    ASSERT_NE(driver->initialise(driver->device_features()) & status::kDriverOk, 0u);
    auto good = driver->transport.save();
    auto bad = good;
    bad.queues.pop_back();
    EXPECT_FALSE(driver->transport.check(bad)) << "queue count";
    bad = good;
    bad.queues[0].used_addr = kRamSize + 4096;
    EXPECT_FALSE(driver->transport.check(bad)) << "ring outside RAM";
    bad = good;
    bad.queues[0].size = 3;
    EXPECT_FALSE(driver->transport.check(bad)) << "queue size";
    bad = good;
    bad.driver_features |= 1ULL << 28;
    EXPECT_FALSE(driver->transport.check(bad)) << "features not offered";
    bad = good;
    bad.device = {1, 2, 3};
    EXPECT_FALSE(driver->transport.restore(bad, 1)) << "device bytes";
    bad = good;
    snapshot::ByteWriter w;
    w.u64(4096); // another disk size
    w.u8(0);
    bad.device = w.bytes();
    auto r = driver->transport.restore(bad, 1);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("bytes"), std::string::npos) << r.error().message();

    snapshot::ByteWriter trunc;
    encode_transport(good, trunc);
    trunc.bytes().resize(trunc.bytes().size() - 3);
    snapshot::ByteReader reader(trunc.bytes(), "test");
    EXPECT_FALSE(decode_transport(reader)) << "truncated";
}

} // namespace
} // namespace brood::virtio
