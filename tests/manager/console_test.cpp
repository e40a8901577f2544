#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "manager/console.hpp"

using namespace brood::manager;
using brood::UniqueFd;

TEST(ConsoleCollector, FindsAMarkerSplitAcrossReads) {
    ConsoleCollector c("MARK");
    c.append("noise MA");
    EXPECT_FALSE(c.found());
    c.append("RK 42");
    EXPECT_TRUE(c.found());
    EXPECT_FALSE(c.complete());
    c.append(" and more\nnext line\n");
    ASSERT_TRUE(c.complete());
    ConsoleOutput out = c.take(true);
    EXPECT_EQ(out.output, "noise MARK 42 and more\n");
    EXPECT_FALSE(out.truncated);
}

TEST(ConsoleCollector, EmptyMarkerWaitsForTheFirstLine) {
    ConsoleCollector c("");
    c.append("hel");
    EXPECT_FALSE(c.complete());
    c.append("lo\nworld\n");
    ASSERT_TRUE(c.complete());
    EXPECT_EQ(c.take(true).output, "hello\n");
}

TEST(ConsoleCollector, MemoryIsBoundedAndTruncationIsReported) {
    ConsoleCollector c("END", 1000);
    std::string junk(100, 'x');
    for (int i = 0; i < 1000; ++i) c.append(junk); // 100 kB, no marker
    c.append("END\n");
    ASSERT_TRUE(c.complete());
    ConsoleOutput out = c.take(true);
    EXPECT_TRUE(out.truncated);
    EXPECT_LE(out.output.size(), 1000u);
    EXPECT_TRUE(out.output.ends_with("xxEND\n"));
    // No marker and no newline: the first `cap` bytes of the line are kept.
    ConsoleCollector line("", 10);
    line.append(std::string(50, 'y'));
    ConsoleOutput first = line.take(false);
    EXPECT_TRUE(first.truncated);
    EXPECT_EQ(first.output, std::string(10, 'y'));
}

TEST(ConsoleExchange, AFloodingGuestGivesABoundedAnswer) {
    char tmpl[] = "/tmp/brood-console-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl, path = dir + "/serial.sock";
    UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener.get(), 4), 0);
    std::thread guest([&] {
        UniqueFd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        char byte = 0;
        while (::read(fd.get(), &byte, 1) == 1 && byte != '\n') {
        }
        std::string junk(64 * 1024, 'x');
        for (int i = 0; i < 64; ++i) // 4 MiB before the marker
            if (::send(fd.get(), junk.data(), junk.size(), MSG_NOSIGNAL) <= 0) return;
        std::string tail = "MARK done\nafter\n";
        (void)!::send(fd.get(), tail.data(), tail.size(), MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    });
    auto out = console_exchange(path, "go", "MARK", 10'000);
    guest.join();
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_TRUE(out->matched);
    EXPECT_TRUE(out->truncated);
    EXPECT_LE(out->output.size(), kMaxConsoleOutput);
    EXPECT_TRUE(out->output.ends_with("xMARK done\n"));
}
