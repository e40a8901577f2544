// Just enough AML (ACPI Machine Language) to write the DSDT by hand: names,
// strings, integers, packages, buffers, resource templates, scopes, devices,
// methods and Notify. Each function returns the encoded bytes of one term.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace brood::x86::aml {

using Bytes = std::vector<uint8_t>;

inline constexpr uint8_t kZeroOp = 0x00, kNameOp = 0x08, kBytePrefix = 0x0a, kDWordPrefix = 0x0c,
                         kBufferOp = 0x11,
                         kStringPrefix = 0x0d, kScopeOp = 0x10, kPackageOp = 0x12, kMethodOp = 0x14,
                         kRootChar = 0x5c, kDualNamePrefix = 0x2e, kExtOpPrefix = 0x5b, kDeviceOp = 0x82,
                         kNotifyOp = 0x86;

Bytes concat(std::initializer_list<Bytes> parts);
// A four-character name segment ("_SB_", "VGEN"); shorter names are padded with '_'.
Bytes name_seg(std::string_view seg);
// "\\_SB_" or "\\_SB_.VGEN": an absolute path of one or two segments.
Bytes root_path(std::initializer_list<std::string_view> segs);
Bytes string(std::string_view text);
Bytes byte_const(uint8_t v);
Bytes dword_const(uint32_t v);
// PkgLength for `content_len` bytes that follow it (it counts itself).
Bytes pkg_length(size_t content_len);

Bytes name(std::string_view seg, const Bytes& value);
Bytes package(std::initializer_list<Bytes> elements);
Bytes scope(const Bytes& path, std::initializer_list<Bytes> terms);
Bytes device(std::string_view seg, std::initializer_list<Bytes> terms);
Bytes method(std::string_view seg, uint8_t arg_count, std::initializer_list<Bytes> terms);
Bytes notify(const Bytes& target, uint8_t value);

// Buffer () { bytes }: its size, then the bytes.
Bytes buffer(const Bytes& bytes);

// Resource descriptors (ACPI 6.5, 6.4), for a ResourceTemplate.
// Memory32Fixed (ReadWrite, base, length).
Bytes memory32_fixed(uint32_t base, uint32_t length);
// Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }.
Bytes edge_interrupt(uint32_t gsi);
// ResourceTemplate () { descriptors }: a buffer of them plus the end tag.
Bytes resource_template(std::initializer_list<Bytes> descriptors);

} // namespace brood::x86::aml
