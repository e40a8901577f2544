#include "vmm/arch/x86_64/aml.hpp"

namespace brood::x86::aml {

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes name_seg(std::string_view seg) {
    Bytes out(4, '_');
    for (size_t i = 0; i < seg.size() && i < 4; ++i) out[i] = static_cast<uint8_t>(seg[i]);
    return out;
}

Bytes root_path(std::initializer_list<std::string_view> segs) {
    Bytes out{kRootChar};
    if (segs.size() == 2) out.push_back(kDualNamePrefix);
    for (auto s : segs) {
        auto n = name_seg(s);
        out.insert(out.end(), n.begin(), n.end());
    }
    return out;
}

Bytes string(std::string_view text) {
    Bytes out(text.size() + 2, 0); // prefix, the characters, the NUL
    out[0] = kStringPrefix;
    for (size_t i = 0; i < text.size(); ++i) out[i + 1] = static_cast<uint8_t>(text[i]);
    return out;
}

Bytes byte_const(uint8_t v) { return {kBytePrefix, v}; }

Bytes dword_const(uint32_t v) {
    return {kDWordPrefix, static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
            static_cast<uint8_t>(v >> 24)};
}

Bytes pkg_length(size_t content_len) {
    // One byte holds up to 63; otherwise the first byte's bits 7-6 count the
    // bytes that follow, its low nibble and those bytes the length.
    if (content_len + 1 < 0x40) return {static_cast<uint8_t>(content_len + 1)};
    for (size_t extra = 1; extra <= 3; ++extra) {
        const size_t total = content_len + 1 + extra;
        if (total >= (size_t{1} << (4 + 8 * extra))) continue;
        Bytes out{static_cast<uint8_t>((extra << 6) | (total & 0x0f))};
        for (size_t i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
        return out;
    }
    return {}; // beyond 256 MiB: never produced here
}

namespace {

// Op, PkgLength, then `body`.
Bytes with_length(Bytes op, const Bytes& body) {
    auto len = pkg_length(body.size());
    op.insert(op.end(), len.begin(), len.end());
    op.insert(op.end(), body.begin(), body.end());
    return op;
}

Bytes joined(Bytes head, std::initializer_list<Bytes> terms) {
    for (const auto& t : terms) head.insert(head.end(), t.begin(), t.end());
    return head;
}

} // namespace

Bytes name(std::string_view seg, const Bytes& value) { return concat({{kNameOp}, name_seg(seg), value}); }

Bytes package(std::initializer_list<Bytes> elements) {
    return with_length({kPackageOp}, joined({static_cast<uint8_t>(elements.size())}, elements));
}

Bytes scope(const Bytes& path, std::initializer_list<Bytes> terms) { return with_length({kScopeOp}, joined(path, terms)); }

Bytes device(std::string_view seg, std::initializer_list<Bytes> terms) {
    return with_length({kExtOpPrefix, kDeviceOp}, joined(name_seg(seg), terms));
}

Bytes method(std::string_view seg, uint8_t arg_count, std::initializer_list<Bytes> terms) {
    Bytes head = name_seg(seg);
    head.push_back(static_cast<uint8_t>(arg_count & 0x7)); // not serialized, sync level 0
    return with_length({kMethodOp}, joined(std::move(head), terms));
}

Bytes notify(const Bytes& target, uint8_t value) { return concat({{kNotifyOp}, target, byte_const(value)}); }

Bytes buffer(const Bytes& bytes) {
    const Bytes size = bytes.size() < 0x100 ? byte_const(static_cast<uint8_t>(bytes.size()))
                                            : dword_const(static_cast<uint32_t>(bytes.size()));
    return with_length({kBufferOp}, concat({size, bytes}));
}

namespace {

void put_le32(Bytes& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

constexpr uint8_t kMemory32FixedTag = 0x86, kExtendedInterruptTag = 0x89, kEndTag = 0x78;

} // namespace

Bytes memory32_fixed(uint32_t base, uint32_t length) {
    Bytes out{kMemory32FixedTag, 9, 0, 0x01}; // large item, 9 bytes follow; bit 0: writable
    put_le32(out, base);
    put_le32(out, length);
    return out;
}

Bytes edge_interrupt(uint32_t gsi) {
    // Flags: bit 0 consumer, bit 1 edge, bit 2 clear (active high), bit 3 clear (exclusive).
    Bytes out{kExtendedInterruptTag, 6, 0, 0x03, 1};
    put_le32(out, gsi);
    return out;
}

Bytes resource_template(std::initializer_list<Bytes> descriptors) {
    Bytes body = concat(descriptors);
    body.push_back(kEndTag | 1); // small item (type 0xf), one byte follows: the checksum
    body.push_back(0);           // 0: the template is taken as valid without one
    return buffer(body);
}

} // namespace brood::x86::aml
