// The virtio-vsock packet header (virtio spec 1.2, 5.10.6), as it travels in
// guest memory: 44 bytes, little endian, in front of every packet's payload.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace brood::vsock {

// Well-known CIDs: the host is always 2; a guest gets 3 or above.
constexpr uint64_t kHostCid = 2;
constexpr uint64_t kMinGuestCid = 3;
// CIDs are 32-bit in practice (Linux's sockaddr_vm); the header carries 64.
constexpr uint64_t kMaxGuestCid = 0xfffffffeu;

constexpr uint16_t kTypeStream = 1;

enum class Op : uint16_t {
    invalid = 0,
    request = 1,
    response = 2,
    rst = 3,
    shutdown = 4,
    rw = 5,
    credit_update = 6,
    credit_request = 7,
};

// SHUTDOWN flags: the sender will receive (RCV) or send (SEND) no more.
constexpr uint32_t kShutdownRcv = 1;
constexpr uint32_t kShutdownSend = 2;
constexpr uint32_t kShutdownBoth = kShutdownRcv | kShutdownSend;

// The one event of the event queue: the guest must drop every connection
// and read its CID again.
constexpr uint32_t kEventTransportReset = 0;

struct Header {
    uint64_t src_cid = 0;
    uint64_t dst_cid = 0;
    uint32_t src_port = 0;
    uint32_t dst_port = 0;
    uint32_t len = 0;
    uint16_t type = kTypeStream;
    uint16_t op = 0;
    uint32_t flags = 0;
    uint32_t buf_alloc = 0;
    uint32_t fwd_cnt = 0;

    static constexpr size_t kSize = 44;
    using Bytes = std::array<uint8_t, kSize>;

    Bytes encode() const;
    // Nothing but the size can be wrong at this level: fields are checked by
    // whoever acts on them.
    static std::optional<Header> decode(std::span<const uint8_t> bytes);
};

const char* op_name(uint16_t op);
// "REQUEST 3:1024 -> 2:52 len=0" for logs.
std::string describe(const Header& h);

} // namespace brood::vsock
