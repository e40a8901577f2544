// Connection floods: idle connections, slowloris, busy workers and running
// out of descriptors must not stop a normal request from being answered.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http/client.hpp"
#include "common/http/server.hpp"

using namespace brood::http;
using brood::UniqueFd;
using std::chrono::milliseconds;

namespace {

Router sample_router() {
    Router router;
    router.add("GET", "/vm", [](Request&) { return json(200, {{"state", "running"}}); });
    return router;
}

UniqueFd connect_raw(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
    return fd;
}

// What the server sends before it closes, waiting at most `ms`.
std::string read_until_close(int fd, int ms) {
    std::string out;
    auto end = Clock::now() + milliseconds(ms);
    while (Clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

// Milliseconds a normal GET /vm takes on a fresh connection; -1 on failure.
long timed_request(const std::string& path, int timeout_ms) {
    auto begin = Clock::now();
    auto c = Client::connect_unix(path);
    if (!c) return -1;
    auto r = c->request("GET", "/vm", "", timeout_ms);
    if (!r || r->status != 200) return -1;
    return std::chrono::duration_cast<milliseconds>(Clock::now() - begin).count();
}

class HttpFlood : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-flood-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/api.sock";
    }
    void TearDown() override {
        server.reset();
        std::filesystem::remove_all(dir);
    }
    void serve(ServerOptions options, Router router = sample_router()) {
        auto s = Server::listen_unix(path, 0600, std::move(options));
        ASSERT_TRUE(s) << s.error().message();
        server = std::make_unique<Server>(std::move(*s));
        ASSERT_TRUE(server->start(std::move(router)));
    }
    std::string dir, path;
    std::unique_ptr<Server> server;
};

} // namespace

TEST_F(HttpFlood, ThousandIdleConnectionsDoNotBlockARequest) {
    serve({});
    std::vector<UniqueFd> idle;
    for (int i = 0; i < 1000; ++i) {
        idle.push_back(connect_raw(path));
        ASSERT_TRUE(idle.back()) << "connection " << i;
    }
    long ms = timed_request(path, 2000);
    EXPECT_GE(ms, 0) << "a normal request was not answered";
    EXPECT_LT(ms, 2000);
}

TEST_F(HttpFlood, SlowlorisIsCutOff) {
    ServerOptions options;
    options.read_timeout_ms = 500;
    serve(options);
    UniqueFd slow = connect_raw(path);
    ASSERT_TRUE(slow);
    const std::string head = "GET /vm HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    auto begin = Clock::now();
    bool cut = false;
    for (size_t i = 0; i < head.size() && Clock::now() - begin < std::chrono::seconds(4); ++i) {
        if (::send(slow.get(), &head[i], 1, MSG_NOSIGNAL) != 1) {
            cut = true;
            break;
        }
        pollfd p{slow.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) > 0) {
            cut = true;
            break;
        }
    }
    ASSERT_TRUE(cut) << "the server kept waiting for a head sent one byte at a time";
    auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - begin).count();
    EXPECT_LT(elapsed, 1500);
    EXPECT_EQ(read_until_close(slow.get(), 500).rfind("HTTP/1.1 408 ", 0), 0u);
}

TEST_F(HttpFlood, ManySlowlorisConnectionsDoNotBlockARequest) {
    ServerOptions options;
    options.max_connections = 64;
    serve(options);
    std::vector<UniqueFd> slow;
    for (int i = 0; i < 200; ++i) {
        slow.push_back(connect_raw(path));
        ASSERT_TRUE(slow.back());
        ASSERT_EQ(::send(slow.back().get(), "GET /vm HTTP/1.1\r\nX-A: ", 23, MSG_NOSIGNAL), 23);
    }
    long ms = timed_request(path, 2000);
    EXPECT_GE(ms, 0) << "a normal request was not answered";
    EXPECT_LT(ms, 2000);
}

TEST_F(HttpFlood, BusyWorkersGiveA503WithoutReadingTheRequest) {
    ServerOptions options;
    options.max_connections = 2;
    std::mutex mutex;
    std::condition_variable cv;
    bool release = false;
    int entered = 0;
    Router router = sample_router();
    router.add("GET", "/hold", [&](Request&) {
        std::unique_lock lock(mutex);
        ++entered;
        cv.notify_all();
        cv.wait_for(lock, std::chrono::seconds(5), [&] { return release; });
        return no_content();
    });
    serve(options, std::move(router));
    std::vector<std::thread> holders;
    for (int i = 0; i < 2; ++i)
        holders.emplace_back([this] {
            auto c = Client::connect_unix(path);
            if (c) (void)c->request("GET", "/hold", "", 6000);
        });
    {
        std::unique_lock lock(mutex);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(3), [&] { return entered == 2; }));
    }
    UniqueFd extra = connect_raw(path);
    ASSERT_TRUE(extra);
    std::string answer = read_until_close(extra.get(), 2000);
    EXPECT_EQ(answer.rfind("HTTP/1.1 503 ", 0), 0u) << answer;
    EXPECT_NE(answer.find("\"code\":\"busy\""), std::string::npos);
    {
        std::lock_guard lock(mutex);
        release = true;
    }
    cv.notify_all();
    for (auto& t : holders) t.join();
    // Served again once a worker is free (a worker may still be finishing).
    long ms = -1;
    for (int i = 0; i < 20 && ms < 0; ++i) {
        ms = timed_request(path, 2000);
        if (ms < 0) std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_GE(ms, 0);
}

TEST_F(HttpFlood, BodiesTimeOutToo) {
    ServerOptions options;
    options.read_timeout_ms = 300;
    serve(options);
    UniqueFd slow = connect_raw(path);
    ASSERT_TRUE(slow);
    std::string head = "PUT /vm HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc";
    ASSERT_EQ(::send(slow.get(), head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
    auto begin = Clock::now();
    std::string answer = read_until_close(slow.get(), 3000);
    EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
    EXPECT_LT(std::chrono::duration_cast<milliseconds>(Clock::now() - begin).count(), 1500);
}

namespace {

// CPU time (user + system) of a process, in clock ticks.
long cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close_paren = text.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream fields(text.substr(close_paren + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) utime = std::stol(field);
        if (i == 15) stime = std::stol(field);
    }
    return utime + stime;
}

} // namespace

TEST_F(HttpFlood, OutOfDescriptorsTheServerKeepsAnsweringAndDoesNotSpin) {
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // The server, with room for a handful of connections only.
        ::close(ready[0]);
        // New descriptors must be below 32: about twenty are left.
        rlimit limit{32, 32};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(2);
        auto s = Server::listen_unix(path, 0600);
        if (!s || !s->start(sample_router())) ::_exit(3);
        (void)!::write(ready[1], "r", 1);
        ::pause();
        ::_exit(0);
    }
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);
    std::vector<UniqueFd> flood;
    for (int i = 0; i < 60; ++i) flood.push_back(connect_raw(path));
    std::this_thread::sleep_for(milliseconds(200));
    long during = timed_request(path, 2000);
    long before = cpu_ticks(child);
    std::this_thread::sleep_for(milliseconds(1000));
    long spent = cpu_ticks(child) - before;
    flood.clear();
    long after = timed_request(path, 2000);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "the server process ended by itself, status " << status;
    EXPECT_GE(during, 0) << "no answer while descriptors ran out";
    EXPECT_GE(after, 0) << "no answer after the flood";
    long hz = ::sysconf(_SC_CLK_TCK);
    EXPECT_LT(spent, hz / 4) << "the server spun while out of descriptors";
}
