// A virtio-blk device behind its transport, driven like a guest driver
// would: initialise, queue block requests, notify, read the status byte.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "virtio_harness.hpp"
#include "vmm/virtio/block.hpp"
#include "vmm/virtio/transport.hpp"

namespace brood::virtio::test {

constexpr uint64_t kHeaderAddr = 0x200000, kBufferAddr = 0x210000, kStatusAddr = 0x300000;

// A temporary file of `size` bytes, each byte its offset modulo 251.
inline std::string make_image(const std::string& dir, const std::string& name, uint64_t size) {
    std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    std::vector<uint8_t> bytes(size);
    for (uint64_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i % 251);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(size));
    ::close(fd);
    return path;
}

class TempDir {
public:
    TempDir() {
        std::string templ = (std::filesystem::temp_directory_path() / "brood-virtio-XXXXXX").string();
        _path = ::mkdtemp(templ.data());
    }
    ~TempDir() { std::filesystem::remove_all(_path); }
    const std::string& path() const { return _path; }

private:
    std::string _path;
};

class BlockDriver {
public:
    explicit BlockDriver(std::unique_ptr<BlockBackend> backend)
        : memory(make_memory()), ring(memory, 16),
          transport(memory, std::make_unique<Block>(std::move(backend)), [this] { ++interrupts; }, nullptr) {}

    uint32_t read32(uint64_t offset) {
        uint32_t v = 0;
        transport.mmio_read(offset, std::span(reinterpret_cast<uint8_t*>(&v), 4));
        return v;
    }
    void write32(uint64_t offset, uint32_t v) {
        transport.mmio_write(offset, std::span(reinterpret_cast<const uint8_t*>(&v), 4));
    }
    uint64_t device_features() {
        write32(reg::kDeviceFeaturesSel, 0);
        uint64_t lo = read32(reg::kDeviceFeatures);
        write32(reg::kDeviceFeaturesSel, 1);
        return lo | (uint64_t{read32(reg::kDeviceFeatures)} << 32);
    }
    // The Linux driver's sequence; returns the final status.
    uint32_t initialise(uint64_t features) {
        write32(reg::kStatus, 0);
        write32(reg::kStatus, status::kAcknowledge);
        write32(reg::kStatus, status::kAcknowledge | status::kDriver);
        write32(reg::kDriverFeaturesSel, 0);
        write32(reg::kDriverFeatures, static_cast<uint32_t>(features));
        write32(reg::kDriverFeaturesSel, 1);
        write32(reg::kDriverFeatures, static_cast<uint32_t>(features >> 32));
        write32(reg::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
        if (!(read32(reg::kStatus) & status::kFeaturesOk)) return read32(reg::kStatus);
        write32(reg::kQueueSel, 0);
        write32(reg::kQueueNum, 16);
        write32(reg::kQueueDescLow, static_cast<uint32_t>(kDescAddr));
        write32(reg::kQueueDescHigh, 0);
        write32(reg::kQueueDriverLow, static_cast<uint32_t>(kAvailAddr));
        write32(reg::kQueueDriverHigh, 0);
        write32(reg::kQueueDeviceLow, static_cast<uint32_t>(kUsedAddr));
        write32(reg::kQueueDeviceHigh, 0);
        write32(reg::kQueueReady, 1);
        write32(reg::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
        return read32(reg::kStatus);
    }
    // One request: header, `data_len` bytes at kBufferAddr (device-writable
    // for reads), status byte. Returns the status byte, or -1 when the
    // device did not complete it.
    int request(uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable) {
        uint32_t header[4] = {type, 0, static_cast<uint32_t>(sector), static_cast<uint32_t>(sector >> 32)};
        EXPECT_TRUE(memory.write(kHeaderAddr, std::span(reinterpret_cast<const uint8_t*>(header), 16)));
        uint8_t poison = 0xee;
        EXPECT_TRUE(memory.write(kStatusAddr, std::span(&poison, 1)));
        ring.set_desc(0, {kHeaderAddr, 16, kDescNext, 1});
        if (data_len > 0) {
            ring.set_desc(1, {kBufferAddr, data_len, static_cast<uint16_t>(kDescNext | (data_writable ? kDescWrite : 0)),
                              2});
            ring.set_desc(2, {kStatusAddr, 1, kDescWrite, 0});
        } else {
            ring.set_desc(1, {kStatusAddr, 1, kDescWrite, 0});
        }
        uint16_t before = ring.used_idx();
        ring.make_available(0);
        transport.on_notify(0);
        if (ring.used_idx() == before) return -1;
        last_used_len = ring.used(before).second;
        return ring.read<uint8_t>(kStatusAddr);
    }
    std::vector<uint8_t> buffer(size_t len) {
        std::vector<uint8_t> out(len);
        EXPECT_TRUE(memory.read(kBufferAddr, out));
        return out;
    }
    void fill_buffer(const std::vector<uint8_t>& bytes) { EXPECT_TRUE(memory.write(kBufferAddr, bytes)); }

    GuestMemory memory;
    Ring ring;
    int interrupts = 0;
    uint32_t last_used_len = 0;
    MmioTransport transport;
};

} // namespace brood::virtio::test
