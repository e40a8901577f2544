#include <sys/socket.h>

#include <gtest/gtest.h>

#include "common/http/wire.hpp"

using namespace brood::http;
using brood::UniqueFd;

namespace {

struct Pipe {
    Pipe() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        reader = std::make_unique<Conn>(UniqueFd(fds[0]));
        writer = UniqueFd(fds[1]);
    }
    void send(const std::string& data) {
        ASSERT_EQ(::write(writer.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
    }
    std::unique_ptr<Conn> reader;
    UniqueFd writer;
};

} // namespace

TEST(HttpWire, ParsesRequestLine) {
    auto line = parse_request_line("GET /instances/a%20b?follow=true&x=1 HTTP/1.1");
    ASSERT_TRUE(line);
    EXPECT_EQ(line->method, "GET");
    EXPECT_EQ(line->path, "/instances/a%20b");
    EXPECT_EQ(line->query, "follow=true&x=1");
}

TEST(HttpWire, RejectsMalformedRequestLines) {
    for (const char* bad : {"GET /x", "GET  /x HTTP/1.1", "GET x HTTP/1.1", "GET /x HTTP/2.0", "G(T /x HTTP/1.1",
                            "GET /x HTTP/1.1 extra"}) {
        auto line = parse_request_line(bad);
        ASSERT_FALSE(line) << bad;
        EXPECT_EQ(line.error().errno_value(), EBADMSG) << bad;
    }
}

TEST(HttpWire, ParsesStatusLine) {
    EXPECT_EQ(parse_status_line("HTTP/1.1 204 No Content").value(), 204);
    EXPECT_FALSE(parse_status_line("HTTP/1.1 2x4 No"));
    EXPECT_FALSE(parse_status_line("SPDY/1 200 OK"));
}

TEST(HttpWire, ReadsHeadWithLowerCaseKeysAndBody) {
    Pipe p;
    p.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length:  5 \r\nX-Multi: a\r\nx-multi: b\r\n\r\nhello");
    auto head = read_head(*p.reader, Limits{}, deadline_in(1000), deadline_in(1000));
    ASSERT_TRUE(head) << head.error().message();
    EXPECT_EQ(head->start_line, "POST /a HTTP/1.1");
    EXPECT_EQ(head->headers.at("content-length"), "5");
    EXPECT_EQ(head->headers.at("x-multi"), "a, b");
    auto body = read_body(*p.reader, head->headers, 100, false, deadline_in(1000));
    ASSERT_TRUE(body);
    EXPECT_EQ(*body, "hello");
}

TEST(HttpWire, HeadTooLargeIsEmsgsize) {
    Pipe p;
    p.send("GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n");
    Limits limits;
    limits.max_head_bytes = 64;
    auto head = read_head(*p.reader, limits, deadline_in(1000), deadline_in(1000));
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().errno_value(), EMSGSIZE);
}

TEST(HttpWire, BodyTooLargeIsEfbig) {
    Pipe p;
    Headers h{{"content-length", "1000"}};
    auto body = read_body(*p.reader, h, 10, false, deadline_in(1000));
    ASSERT_FALSE(body);
    EXPECT_EQ(body.error().errno_value(), EFBIG);
}

TEST(HttpWire, BadContentLengthIsEbadmsg) {
    Pipe p;
    Headers h{{"content-length", "12abc"}};
    auto body = read_body(*p.reader, h, 100, false, deadline_in(1000));
    ASSERT_FALSE(body);
    EXPECT_EQ(body.error().errno_value(), EBADMSG);
}

TEST(HttpWire, DecodesChunkedBody) {
    Pipe p;
    p.send(format_chunk("hello ") + format_chunk("world") + "0\r\nTrailer: x\r\n\r\n");
    Headers h{{"transfer-encoding", "chunked"}};
    auto body = read_body(*p.reader, h, 100, false, deadline_in(1000));
    ASSERT_TRUE(body) << body.error().message();
    EXPECT_EQ(*body, "hello world");
}

TEST(HttpWire, TimesOutWithoutData) {
    Pipe p;
    auto head = read_head(*p.reader, Limits{}, deadline_in(20), deadline_in(20));
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().errno_value(), ETIMEDOUT);
}

TEST(HttpWire, EofIsEconnreset) {
    Pipe p;
    p.send("GET / HT");
    p.writer.reset();
    auto head = read_head(*p.reader, Limits{}, deadline_in(1000), deadline_in(1000));
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().errno_value(), ECONNRESET);
}

TEST(HttpWire, QueryParamsArePercentDecoded) {
    Request r;
    r.query = "follow=true&name=a%2Fb+c&flag";
    EXPECT_EQ(r.query_param("follow").value(), "true");
    EXPECT_EQ(r.query_param("name").value(), "a/b c");
    EXPECT_EQ(r.query_param("flag").value(), "");
    EXPECT_FALSE(r.query_param("missing"));
}

TEST(HttpWire, FormatsResponses) {
    Response r = error(409, "conflict", "busy");
    std::string head = format_response_head(r, true, r.body.size());
    EXPECT_NE(head.find("HTTP/1.1 409 Conflict\r\n"), std::string::npos);
    EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(head.find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_EQ(r.body, "{\"code\":\"conflict\",\"message\":\"busy\"}\n");
    std::string nc = format_response_head(no_content(), false, 0);
    EXPECT_EQ(nc.find("Content-Length"), std::string::npos);
}

TEST(HttpFramer, FindsTheEndOfARequestAcrossPieces) {
    Limits limits;
    const std::string request = "\r\nPUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    RequestFramer framer;
    std::string data;
    for (size_t i = 0; i < request.size(); ++i) {
        data += request[i];
        auto size = framer.scan(data, limits);
        ASSERT_TRUE(size);
        if (i + 1 < request.size()) {
            EXPECT_FALSE(*size) << "complete after " << i + 1 << " bytes";
        } else {
            ASSERT_TRUE(*size);
            EXPECT_EQ(**size, request.size());
        }
    }
    EXPECT_TRUE(framer.head_done());
}

TEST(HttpFramer, ChunkedBodiesAndPipelining) {
    Limits limits;
    const std::string first = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
    const std::string all = first + "GET / HTTP/1.1\r\n\r\n";
    RequestFramer framer;
    auto partial = framer.scan(std::string_view(first).substr(0, first.size() - 3), limits);
    ASSERT_TRUE(partial);
    EXPECT_FALSE(*partial);
    auto size = framer.scan(all, limits);
    ASSERT_TRUE(size && *size);
    EXPECT_EQ(**size, first.size());
    framer.reset();
    auto next = framer.scan(std::string_view(all).substr(first.size()), limits);
    ASSERT_TRUE(next && *next);
    EXPECT_EQ(**next, all.size() - first.size());
}

TEST(HttpFramer, OversizedHeadFailsAndFaultsEndAtTheHead) {
    Limits limits;
    limits.max_head_bytes = 64;
    RequestFramer framer;
    auto big = framer.scan("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), limits);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().errno_value(), EMSGSIZE);
    RequestFramer too_long_body;
    const std::string head = "PUT / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n";
    auto size = too_long_body.scan(head, Limits{});
    ASSERT_TRUE(size && *size);
    EXPECT_EQ(**size, head.size());
}
