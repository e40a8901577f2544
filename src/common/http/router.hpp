// Maps (method, path pattern) to handlers. Patterns are literal segments and
// `{name}` placeholders, each matching one non-empty segment.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/http/message.hpp"

namespace brood::http {

using Handler = std::function<Response(Request&)>;

struct RouteInfo {
    std::string method;
    std::string pattern;
};

class Router final {
public:
    // Called after each dispatched request: method, matched pattern ("" when
    // none matched), status, time spent in the handler.
    using Observer = std::function<void(const std::string& method, const std::string& pattern, int status,
                                        std::chrono::nanoseconds elapsed)>;

    void add(std::string method, std::string pattern, Handler handler);
    void set_observer(Observer observer) { _observer = std::move(observer); }

    // 404 for an unknown path, 405 (with Allow) for a known path and another
    // method, 400 for JSON errors thrown by a handler, 500 for other exceptions.
    Response dispatch(Request& request) const;

    std::vector<RouteInfo> routes() const;

private:
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        Handler handler;
    };
    static std::vector<std::string> split(const std::string& path);
    static bool match(const Route& route, const std::vector<std::string>& segments,
                      std::vector<std::string>& params);
    Response invoke(const Route& route, Request& request) const;

    std::vector<Route> _routes;
    Observer _observer;
};

} // namespace brood::http
