#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http/client.hpp"
#include "common/http/server.hpp"

using namespace brood::http;
using brood::UniqueFd;

namespace {

class HttpServer : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-http-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/api.sock";
    }
    void TearDown() override {
        server.reset();
        std::filesystem::remove_all(dir);
    }
    void serve(ServerOptions options = {}) {
        Router router;
        router.add("GET", "/vm", [](Request&) { return json(200, {{"state", "running"}}); });
        router.add("PUT", "/vm/echo", [](Request& r) { return json(200, nlohmann::json::parse(r.body)); });
        router.add("PUT", "/vm/pause", [](Request&) { return no_content(); });
        router.add("GET", "/logs", [](Request& r) {
            int n = std::stoi(r.query_param("n").value_or("3"));
            return streaming("text/plain", [n](ChunkWriter& w) {
                for (int i = 0; i < n && w.open(); ++i) w.write("line " + std::to_string(i) + "\n");
            });
        });
        router.add("GET", "/forever", [](Request&) {
            return streaming("text/plain", [](ChunkWriter& w) {
                while (w.open()) {
                    w.write("tick\n");
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            });
        });
        auto s = Server::listen_unix(path, 0660, std::move(options));
        ASSERT_TRUE(s) << s.error().message();
        server = std::make_unique<Server>(std::move(*s));
        ASSERT_TRUE(server->start(std::move(router)));
    }
    Client client() {
        auto c = Client::connect_unix(path);
        EXPECT_TRUE(c) << (c ? "" : c.error().message());
        return std::move(*c);
    }
    // Sends raw bytes and returns everything the server answers before closing.
    std::string raw(const std::string& data) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path.c_str());
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
        ::shutdown(fd.get(), SHUT_WR);
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
        return out;
    }
    std::string dir, path;
    std::unique_ptr<Server> server;
};

} // namespace

TEST_F(HttpServer, RoundTripWithKeepAlive) {
    serve();
    Client c = client();
    for (int i = 0; i < 3; ++i) {
        auto r = c.request("GET", "/vm");
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(nlohmann::json::parse(r->body)["state"], "running");
        EXPECT_EQ(r->headers.at("connection"), "keep-alive");
    }
    auto echo = c.request("PUT", "/vm/echo", R"({"state_path":"/x","diff":false})");
    ASSERT_TRUE(echo);
    EXPECT_EQ(nlohmann::json::parse(echo->body)["state_path"], "/x");
    auto pause = c.request("PUT", "/vm/pause");
    ASSERT_TRUE(pause);
    EXPECT_EQ(pause->status, 204);
    EXPECT_TRUE(pause->body.empty());
    auto missing = c.request("GET", "/nope");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    auto wrong = c.request("POST", "/vm");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 405);
}

TEST_F(HttpServer, SocketModeAndRefusesExistingPath) {
    serve();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    auto again = Server::listen_unix(path, 0600);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message().find("control socket path exists"), std::string::npos);
    EXPECT_EQ(again.error().errno_value(), EEXIST);
}

TEST_F(HttpServer, StopUnlinksSocketAndIsIdempotent) {
    serve();
    Client c = client();
    ASSERT_TRUE(c.request("GET", "/vm"));
    server->stop();
    server->stop();
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(c.request("GET", "/vm", "", 500));
}

TEST_F(HttpServer, MalformedRequestIs400) {
    serve();
    std::string out = raw("BLAH\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0u) << out;
    EXPECT_NE(out.find("\"code\":\"bad_request\""), std::string::npos);
    out = raw("GET /vm HTTP/1.1\r\nno colon here\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0u) << out;
}

TEST_F(HttpServer, InvalidUtf8InThePathIs404AndTheServerLives) {
    serve();
    std::string out = raw("GET /ve\x87rsion HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 404 ", 0), 0u) << out;
    out = raw("GET /vm HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 ", 0), 0u) << "the server still answers: " << out;
}

TEST_F(HttpServer, OversizedBodyIs413AndHeadIs431) {
    ServerOptions options;
    options.limits.max_body_bytes = 100;
    options.limits.max_head_bytes = 1024;
    serve(options);
    Client c = client();
    auto r = c.request("PUT", "/vm/echo", std::string(500, ' '));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    std::string out = raw("GET /vm HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0u) << out.substr(0, 80);
}

TEST_F(HttpServer, InvalidJsonBodyIs400) {
    serve();
    Client c = client();
    auto r = c.request("PUT", "/vm/echo", "{oops");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
}

TEST_F(HttpServer, BearerTokenRequiredWhenConfigured) {
    ServerOptions options;
    options.bearer_token = "s3cret";
    serve(options);
    Client c = client();
    auto denied = c.request("GET", "/vm");
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 401);
    c.set_bearer_token("wrong!");
    EXPECT_EQ(c.request("GET", "/vm")->status, 401);
    c.set_bearer_token("s3cret");
    EXPECT_EQ(c.request("GET", "/vm")->status, 200);
}

TEST_F(HttpServer, StreamsChunks) {
    serve();
    Client c = client();
    std::string got;
    auto r = c.stream("GET", "/logs?n=4", [&](std::string_view d) {
        got += d;
        return true;
    });
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(got, "line 0\nline 1\nline 2\nline 3\n");
    // The connection stays usable after a complete chunked answer.
    auto again = c.request("GET", "/logs?n=2");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, "line 0\nline 1\n");
}

TEST_F(HttpServer, ClientCanAbandonEndlessStreamAndServerStops) {
    serve();
    Client c = client();
    int pieces = 0;
    auto r = c.stream("GET", "/forever", [&](std::string_view) { return ++pieces < 5; });
    ASSERT_TRUE(r);
    EXPECT_EQ(pieces, 5);
    // A second endless stream is cut by stop().
    std::thread reader([this] {
        Client other = client();
        auto s = other.stream("GET", "/forever", [](std::string_view) { return true; }, 5000);
        (void)s;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server->stop();
    reader.join();
}

TEST_F(HttpServer, ParallelClients) {
    serve();
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            Client c = client();
            for (int i = 0; i < 20; ++i)
                if (auto r = c.request("GET", "/vm"); r && r->status == 200) ++ok;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 160);
}

TEST_F(HttpServer, ClientTimesOut) {
    Router router;
    router.add("GET", "/slow", [](Request&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return no_content();
    });
    auto s = Server::listen_unix(path, 0600);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->start(std::move(router)));
    Client c = client();
    auto r = c.request("GET", "/slow", "", 50);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errno_value(), ETIMEDOUT);
}

TEST(HttpTcp, RoundTripOnEphemeralPort) {
    Router router;
    router.add("GET", "/ping", [](Request&) { return json(200, {{"pong", true}}); });
    auto s = Server::listen_tcp("127.0.0.1", 0);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_NE(s->port(), 0);
    ASSERT_TRUE(s->start(std::move(router)));
    auto c = connect("tcp://127.0.0.1:" + std::to_string(s->port()));
    ASSERT_TRUE(c) << c.error().message();
    auto r = c->request("GET", "/ping");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServer, InvalidUtf8PathIsAnsweredAndServerKeepsServing) {
    serve();
    std::string out = raw("GET /\xff\xfe/x HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 404 ", 0), 0u) << out;
    EXPECT_NE(out.find("\"code\":\"not_found\""), std::string::npos) << out;
    Client c = client();
    auto r = c.request("GET", "/vm");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServer, ThrowingObserverIs500AndServerKeepsServing) {
    Router router;
    router.add("GET", "/vm", [](Request&) { return json(200, {{"state", "running"}}); });
    router.set_observer([](const std::string& method, const std::string&, int, std::chrono::nanoseconds) {
        if (method == "PUT") throw std::runtime_error("observer failed");
    });
    auto s = Server::listen_unix(path, 0600);
    ASSERT_TRUE(s);
    server = std::make_unique<Server>(std::move(*s));
    ASSERT_TRUE(server->start(std::move(router)));
    Client c = client();
    auto failed = c.request("PUT", "/vm");
    ASSERT_TRUE(failed) << failed.error().message();
    EXPECT_EQ(failed->status, 500);
    auto ok = c.request("GET", "/vm");
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServer, InvalidUtf8BodyIs400WithAJsonAnswer) {
    serve();
    Client c = client();
    auto r = c.request("PUT", "/vm/echo", "{\"state_path\":\"\xff\xfe\"}");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(nlohmann::json::parse(r->body)["code"], "bad_request") << r->body;
    auto again = c.request("GET", "/vm");
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->status, 200);
}
