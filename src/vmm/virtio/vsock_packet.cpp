#include "vmm/virtio/vsock_packet.hpp"

#include <fmt/format.h>

namespace brood::vsock {
namespace {

// The header is little endian on every architecture; x86-64 is too, but the
// field-by-field copy keeps it explicit and free of packing questions.
template <typename T>
void put(uint8_t*& p, T v) {
    for (size_t i = 0; i < sizeof(T); ++i) *p++ = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
}

template <typename T>
T get(const uint8_t*& p) {
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(*p++) << (8 * i);
    return static_cast<T>(v);
}

} // namespace

Header::Bytes Header::encode() const {
    Bytes out{};
    uint8_t* p = out.data();
    put(p, src_cid);
    put(p, dst_cid);
    put(p, src_port);
    put(p, dst_port);
    put(p, len);
    put(p, type);
    put(p, op);
    put(p, flags);
    put(p, buf_alloc);
    put(p, fwd_cnt);
    return out;
}

std::optional<Header> Header::decode(std::span<const uint8_t> bytes) {
    if (bytes.size() < kSize) return std::nullopt;
    const uint8_t* p = bytes.data();
    Header h;
    h.src_cid = get<uint64_t>(p);
    h.dst_cid = get<uint64_t>(p);
    h.src_port = get<uint32_t>(p);
    h.dst_port = get<uint32_t>(p);
    h.len = get<uint32_t>(p);
    h.type = get<uint16_t>(p);
    h.op = get<uint16_t>(p);
    h.flags = get<uint32_t>(p);
    h.buf_alloc = get<uint32_t>(p);
    h.fwd_cnt = get<uint32_t>(p);
    return h;
}

const char* op_name(uint16_t op) {
    switch (static_cast<Op>(op)) {
    case Op::invalid: return "INVALID";
    case Op::request: return "REQUEST";
    case Op::response: return "RESPONSE";
    case Op::rst: return "RST";
    case Op::shutdown: return "SHUTDOWN";
    case Op::rw: return "RW";
    case Op::credit_update: return "CREDIT_UPDATE";
    case Op::credit_request: return "CREDIT_REQUEST";
    }
    return "UNKNOWN";
}

std::string describe(const Header& h) {
    return fmt::format("{} {}:{} -> {}:{} len={} type={} flags={:#x} buf_alloc={} fwd_cnt={}", op_name(h.op),
                       h.src_cid, h.src_port, h.dst_cid, h.dst_port, h.len, h.type, h.flags, h.buf_alloc,
                       h.fwd_cnt);
}

} // namespace brood::vsock
