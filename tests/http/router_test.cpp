#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/http/router.hpp"

using namespace brood::http;

namespace {

Request make(std::string method, std::string path) {
    Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    return r;
}

Router sample() {
    Router router;
    router.add("GET", "/instances", [](Request&) { return json(200, nlohmann::json::array()); });
    router.add("GET", "/instances/{id}", [](Request& r) { return json(200, {{"id", r.path_params.at(0)}}); });
    router.add("DELETE", "/instances/{id}", [](Request&) { return no_content(); });
    router.add("POST", "/instances/{id}/start", [](Request& r) { return json(202, {{"started", r.path_params[0]}}); });
    router.add("POST", "/parse", [](Request& r) {
        auto body = nlohmann::json::parse(r.body);
        return json(200, {{"n", body.at("n").get<int>()}});
    });
    router.add("GET", "/boom", [](Request&) -> Response { throw std::runtime_error("kaput"); });
    return router;
}

} // namespace

TEST(HttpRouter, MatchesLiteralAndParams) {
    Router router = sample();
    auto req = make("GET", "/instances/web-1");
    Response r = router.dispatch(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(nlohmann::json::parse(r.body)["id"], "web-1");
    auto start = make("POST", "/instances/a%20b/start");
    EXPECT_EQ(nlohmann::json::parse(router.dispatch(start).body)["started"], "a b");
    auto list = make("GET", "/instances/");
    EXPECT_EQ(router.dispatch(list).status, 200);
}

TEST(HttpRouter, UnknownPathIs404) {
    Router router = sample();
    auto req = make("GET", "/nothing/here");
    Response r = router.dispatch(req);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "not_found");
    auto deep = make("GET", "/instances/a/b/c");
    EXPECT_EQ(router.dispatch(deep).status, 404);
}

TEST(HttpRouter, WrongMethodIs405WithAllow) {
    Router router = sample();
    auto req = make("PUT", "/instances/x");
    Response r = router.dispatch(req);
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.headers.at("Allow"), "GET, DELETE");
}

TEST(HttpRouter, JsonErrorsAre400AndOtherExceptions500) {
    Router router = sample();
    auto bad = make("POST", "/parse");
    bad.body = "{not json";
    EXPECT_EQ(router.dispatch(bad).status, 400);
    auto wrong_type = make("POST", "/parse");
    wrong_type.body = R"({"n":"seven"})";
    EXPECT_EQ(router.dispatch(wrong_type).status, 400);
    auto boom = make("GET", "/boom");
    Response r = router.dispatch(boom);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "internal");
}

TEST(HttpRouter, ObserverSeesPatternAndStatus) {
    Router router = sample();
    std::string seen;
    int status = 0;
    router.set_observer([&](const std::string& m, const std::string& p, int s, std::chrono::nanoseconds) {
        seen = m + " " + p;
        status = s;
    });
    auto req = make("POST", "/instances/q/start");
    router.dispatch(req);
    EXPECT_EQ(seen, "POST /instances/{id}/start");
    EXPECT_EQ(status, 202);
    EXPECT_EQ(router.routes().size(), 6u);
}

TEST(HttpRouter, InvalidUtf8IsAnAnswerNeverAnException) {
    Router router = sample();
    // The 404 message quotes the raw path, which is not UTF-8.
    auto req = make("GET", "/\xff\xfe");
    Response r = router.dispatch(req);
    EXPECT_EQ(r.status, 404);
    auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["code"], "not_found");
    EXPECT_NE(body["message"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << r.body;
    // A parameter that is not UTF-8 comes back with U+FFFD in its place.
    auto param = make("GET", "/instances/a%FFb");
    Response echoed = router.dispatch(param);
    EXPECT_EQ(echoed.status, 200);
    EXPECT_EQ(nlohmann::json::parse(echoed.body)["id"], "a\xef\xbf\xbd" "b");
}

TEST(HttpRouter, AnyExceptionIs500) {
    Router router;
    router.add("GET", "/int", [](Request&) -> Response { throw 42; });
    auto req = make("GET", "/int");
    Response r = router.dispatch(req);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "internal");
}

TEST(HttpRouter, InvalidUtf8InAPathIsAnAnswerNotAnException) {
    Router router = sample();
    Request unknown = make("GET", "/ve\x87rsion");
    Response r = router.dispatch(unknown);
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD replaces the bad byte: " << r.body;
    Request wrong_method = make("PUT", "/instances/%87");
    EXPECT_EQ(router.dispatch(wrong_method).status, 405);
    Request param = make("GET", "/instances/%87%FF");
    Response answered = router.dispatch(param);
    EXPECT_EQ(answered.status, 200);
    EXPECT_TRUE(nlohmann::json::accept(answered.body)) << answered.body;
}
