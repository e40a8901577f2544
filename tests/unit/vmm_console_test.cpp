// The serial console's output side: queued off the vCPU threads, and a log
// that never grows past its cap.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "vmm/console.hpp"
#include "vmm/rotating_log.hpp"

namespace brood {
namespace {

namespace fs = std::filesystem;

class ConsoleLogTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fs::temp_directory_path() / fmt::format("brood-console-{}-{}", ::getpid(),
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string slurp(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    fs::path dir;
};

TEST_F(ConsoleLogTest, EveryQueuedByteReachesTheLogBeforeTheConsoleEnds) {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += fmt::format("line {}\n", i);
    {
        ConsoleConfig config;
        config.log_path = (dir / "serial.log").string();
        auto console = Console::open(config);
        ASSERT_TRUE(console) << console.error().message();
        ASSERT_TRUE((*console)->start([](std::span<const uint8_t>) {}));
        for (char c : text) (*console)->write(static_cast<uint8_t>(c));
    }
    EXPECT_EQ(slurp(dir / "serial.log"), text);
}

TEST_F(ConsoleLogTest, AGuestThatNeverStopsPrintingHoldsAtMostTwoCapsOnDisk) {
    constexpr uint64_t cap = 4096;
    {
        ConsoleConfig config;
        config.log_path = (dir / "serial.log").string();
        config.log_cap = cap;
        auto console = Console::open(config);
        ASSERT_TRUE(console);
        ASSERT_TRUE((*console)->start([](std::span<const uint8_t>) {}));
        for (int i = 0; i < 10 * static_cast<int>(cap); ++i) (*console)->write(static_cast<uint8_t>('a' + i % 26));
        (*console)->write('Z');
    }
    auto current = slurp(dir / "serial.log");
    auto older = slurp(dir / "serial.log.1");
    EXPECT_LE(current.size(), cap);
    EXPECT_EQ(older.size(), cap);
    EXPECT_EQ(current.back(), 'Z'); // the newest output is in PATH
    EXPECT_FALSE(fs::exists(dir / "serial.log.2"));
}

TEST_F(ConsoleLogTest, ALogAlreadyAtItsCapRotatesWhenOpened) {
    std::ofstream(dir / "serial.log") << std::string(100, 'x');
    auto log = RotatingLog::open((dir / "serial.log").string(), 100);
    ASSERT_TRUE(log);
    std::string more = "fresh";
    log->write(std::span(reinterpret_cast<const uint8_t*>(more.data()), more.size()));
    EXPECT_EQ(slurp(dir / "serial.log"), "fresh");
    EXPECT_EQ(slurp(dir / "serial.log.1"), std::string(100, 'x'));
}

TEST_F(ConsoleLogTest, ASymlinkOrDirectoryInPlaceOfTheLogIsRefused) {
    fs::create_symlink("/etc/passwd", dir / "serial.log");
    EXPECT_FALSE(RotatingLog::open((dir / "serial.log").string()));
    fs::create_directory(dir / "d.log");
    EXPECT_FALSE(RotatingLog::open((dir / "d.log").string()));
    EXPECT_FALSE(RotatingLog::open((dir / "zero.log").string(), 0));
}

} // namespace
} // namespace brood
