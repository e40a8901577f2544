// The split virtqueue against honest and hostile drivers: every chain a
// device sees lies in guest RAM and ends; anything else is an error.
#include <gtest/gtest.h>

#include "virtio_harness.hpp"

namespace brood::virtio {
namespace {

using namespace test;

class QueueTest : public ::testing::Test {
protected:
    QueueTest() : memory(make_memory()), ring(memory, 8), queue(memory, 8) { queue.state() = ring.state(); }

    GuestMemory memory;
    Ring ring;
    Queue queue;
};

TEST_F(QueueTest, NothingAvailableGivesNothing) {
    auto chain = queue.pop();
    ASSERT_TRUE(chain) << chain.error().message();
    EXPECT_FALSE(chain->has_value());
}

TEST_F(QueueTest, ChainOfReadableThenWritableBuffers) {
    ring.set_desc(0, {kDataAddr, 16, kDescNext, 1});
    ring.set_desc(1, {kDataAddr + 0x1000, 512, kDescNext | kDescWrite, 2});
    ring.set_desc(2, {kDataAddr + 0x2000, 1, kDescWrite, 0});
    ring.make_available(0);
    auto chain = queue.pop();
    ASSERT_TRUE(chain) << chain.error().message();
    ASSERT_TRUE(chain->has_value());
    EXPECT_EQ((*chain)->head(), 0);
    EXPECT_EQ((*chain)->readable_len(), 16u);
    EXPECT_EQ((*chain)->writable_len(), 513u);
    EXPECT_EQ((*chain)->readable().size(), 1u);
    ASSERT_TRUE(queue.push_used(0, 513));
    EXPECT_EQ(ring.used_idx(), 1);
    EXPECT_EQ(ring.used(0), (std::pair<uint32_t, uint32_t>{0, 513}));
    EXPECT_FALSE(queue.pop()->has_value()) << "the chain was taken once";
}

TEST_F(QueueTest, ReadAndWriteSpanBuffers) {
    ring.set_desc(0, {kDataAddr, 3, kDescNext, 1});
    ring.set_desc(1, {kDataAddr + 0x100, 5, kDescNext, 2});
    ring.set_desc(2, {kDataAddr + 0x200, 4, kDescWrite, 0});
    const uint8_t text[] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    ASSERT_TRUE(memory.write(kDataAddr, std::span(text).first(3)));
    ASSERT_TRUE(memory.write(kDataAddr + 0x100, std::span(text).subspan(3, 5)));
    ring.make_available(0);
    auto chain = std::move(**queue.pop());
    uint8_t out[6] = {};
    ASSERT_TRUE(chain.read(memory, 1, out));
    EXPECT_EQ(std::string(out, out + 6), "bcdefg");
    EXPECT_FALSE(chain.read(memory, 4, out)) << "only 8 readable bytes";
    const uint8_t reply[] = {1, 2, 3, 4};
    EXPECT_TRUE(chain.write(memory, 0, reply));
    EXPECT_FALSE(chain.write(memory, 1, reply)) << "only 4 writable bytes";
}

TEST_F(QueueTest, WritingIntoAReadOnlyChainFails) {
    ring.set_desc(0, {kDataAddr, 64, 0, 0});
    ring.make_available(0);
    auto chain = std::move(**queue.pop());
    const uint8_t byte = 1;
    auto r = chain.write(memory, 0, std::span(&byte, 1));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("writable"), std::string::npos) << r.error().message();
}

TEST_F(QueueTest, AddressOutsideGuestRamIsRefused) {
    ring.set_desc(0, {kRamSize - 8, 16, 0, 0});
    ring.make_available(0);
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_NE(chain.error().message().find("not in guest RAM"), std::string::npos) << chain.error().message();
}

TEST_F(QueueTest, AddressThatWrapsAroundIsRefused) {
    ring.set_desc(0, {~0ULL - 4, 16, 0, 0});
    ring.make_available(0);
    EXPECT_FALSE(queue.pop());
}

TEST_F(QueueTest, LoopingChainEnds) {
    ring.set_desc(0, {kDataAddr, 16, kDescNext, 1});
    ring.set_desc(1, {kDataAddr, 16, kDescNext, 0});
    ring.make_available(0);
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_NE(chain.error().message().find("longer than the queue"), std::string::npos) << chain.error().message();
}

TEST_F(QueueTest, NextOutsideTheTableIsRefused) {
    ring.set_desc(0, {kDataAddr, 16, kDescNext, 200});
    ring.make_available(0);
    EXPECT_FALSE(queue.pop());
}

TEST_F(QueueTest, HeadOutsideTheTableIsRefused) {
    ring.make_available(9);
    EXPECT_FALSE(queue.pop());
}

TEST_F(QueueTest, OversizedChainIsRefused) {
    for (uint16_t i = 0; i < 8; ++i)
        ring.set_desc(i, {kDataAddr, 0xffff'ffff, static_cast<uint16_t>(i < 7 ? kDescNext : 0),
                          static_cast<uint16_t>(i + 1)});
    ring.make_available(0);
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_NE(chain.error().message().find("longer than"), std::string::npos) << chain.error().message();
}

TEST_F(QueueTest, AvailableIndexJumpIsRefused) {
    ring.set_desc(0, {kDataAddr, 16, 0, 0});
    ring.set_avail_idx(9); // 9 chains on an 8-entry ring
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_NE(chain.error().message().find("available index"), std::string::npos) << chain.error().message();
}

TEST_F(QueueTest, ZeroLengthBuffersAreSkipped) {
    ring.set_desc(0, {kRamSize * 4, 0, kDescNext, 1}); // no bytes: its address is never used
    ring.set_desc(1, {kDataAddr, 1, kDescWrite, 0});
    ring.make_available(0);
    auto chain = queue.pop();
    ASSERT_TRUE(chain) << chain.error().message();
    EXPECT_EQ((*chain)->buffers().size(), 1u);
    EXPECT_EQ((*chain)->readable_len(), 0u);
}

TEST_F(QueueTest, IndirectDescriptorsAreRefused) {
    ring.set_desc(0, {kDataAddr, 32, kDescIndirect, 0});
    ring.make_available(0);
    EXPECT_FALSE(queue.pop());
}

TEST_F(QueueTest, ReadableAfterWritableIsRefused) {
    ring.set_desc(0, {kDataAddr, 16, kDescNext | kDescWrite, 1});
    ring.set_desc(1, {kDataAddr, 16, 0, 0});
    ring.make_available(0);
    EXPECT_FALSE(queue.pop());
}

TEST_F(QueueTest, RingsOutsideRamOrMisalignedAreRefused) {
    QueueState s = ring.state();
    EXPECT_TRUE(queue.check(s));
    s.desc_addr = kRamSize - 16;
    EXPECT_FALSE(queue.check(s)) << "the table runs past RAM";
    s = ring.state();
    s.used_addr = kUsedAddr + 2;
    EXPECT_FALSE(queue.check(s)) << "misaligned used ring";
    s = ring.state();
    s.size = 6;
    EXPECT_FALSE(queue.check(s)) << "not a power of two";
    s.size = 16;
    EXPECT_FALSE(queue.check(s)) << "larger than the maximum";
}

TEST_F(QueueTest, UsedRingWrapsAround) {
    ring.set_desc(0, {kDataAddr, 16, 0, 0});
    for (int i = 0; i < 20; ++i) {
        ring.make_available(0);
        auto chain = queue.pop();
        ASSERT_TRUE(chain && chain->has_value());
        ASSERT_TRUE(queue.push_used(0, 0));
    }
    EXPECT_EQ(ring.used_idx(), 20);
}

} // namespace
} // namespace brood::virtio
