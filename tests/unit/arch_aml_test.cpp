// The AML encoder behind the DSDT: PkgLength in its one- to four-byte forms,
// names and paths.
#include <gtest/gtest.h>

#include "vmm/arch/x86_64/aml.hpp"

namespace brood::x86::aml {
namespace {

TEST(Aml, PkgLengthCountsItselfInEachForm) {
    EXPECT_EQ(pkg_length(0), Bytes{1});
    EXPECT_EQ(pkg_length(62), Bytes{63}); // the largest one-byte form
    // 63 bytes follow: 65 with two length bytes; low nibble in the lead byte.
    EXPECT_EQ(pkg_length(63), (Bytes{0x41, 0x04}));
    EXPECT_EQ(pkg_length(4000), (Bytes{0x40 | ((4000 + 2) & 0xf), (4000 + 2) >> 4}));
    // Past 4095 total: three bytes.
    const size_t total = 5000 + 3;
    EXPECT_EQ(pkg_length(5000), (Bytes{static_cast<uint8_t>(0x80 | (total & 0xf)), static_cast<uint8_t>(total >> 4),
                                       static_cast<uint8_t>(total >> 12)}));
}

TEST(Aml, NamesArePaddedAndPathsAreRooted) {
    EXPECT_EQ(name_seg("_SB"), (Bytes{'_', 'S', 'B', '_'}));
    EXPECT_EQ(root_path({"_GPE"}), (Bytes{0x5c, '_', 'G', 'P', 'E'}));
    EXPECT_EQ(root_path({"_SB_", "VGEN"}), (Bytes{0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N'}));
    EXPECT_EQ(string("ab"), (Bytes{0x0d, 'a', 'b', 0}));
    EXPECT_EQ(dword_const(0x12345678), (Bytes{0x0c, 0x78, 0x56, 0x34, 0x12}));
}

TEST(Aml, ALongDeviceBodyGetsATwoByteLength) {
    Bytes body = device("BIG_", {name("DATA", string(std::string(100, 'x')))});
    ASSERT_GE(body.size(), 4u);
    EXPECT_EQ(body[0], 0x5b);
    EXPECT_EQ(body[1], 0x82);
    const size_t total = (body[2] & 0x0f) | (size_t{body[3]} << 4);
    EXPECT_EQ(body[2] >> 6, 1);
    EXPECT_EQ(total, body.size() - 2); // everything after the two-byte op
}

} // namespace
} // namespace brood::x86::aml
