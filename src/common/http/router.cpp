#include "common/http/router.hpp"

#include <nlohmann/json.hpp>

namespace brood::http {

std::vector<std::string> Router::split(const std::string& path) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] == '/') {
            ++pos;
            continue;
        }
        size_t end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        out.push_back(path.substr(pos, end - pos));
        pos = end;
    }
    return out;
}

void Router::add(std::string method, std::string pattern, Handler handler) {
    Route route{std::move(method), std::move(pattern), {}, std::move(handler)};
    route.segments = split(route.pattern);
    _routes.push_back(std::move(route));
}

bool Router::match(const Route& route, const std::vector<std::string>& segments,
                   std::vector<std::string>& params) {
    if (route.segments.size() != segments.size()) return false;
    params.clear();
    for (size_t i = 0; i < segments.size(); ++i) {
        const std::string& want = route.segments[i];
        if (want.size() >= 2 && want.front() == '{' && want.back() == '}') {
            params.push_back(percent_decode(segments[i]));
        } else if (want != segments[i]) {
            return false;
        }
    }
    return true;
}

Response Router::invoke(const Route& route, Request& request) const {
    try {
        return route.handler(request);
    } catch (const nlohmann::json::exception& e) {
        return error(400, "bad_request", std::string("invalid JSON: ") + e.what());
    } catch (const std::exception& e) {
        return error(500, "internal", e.what());
    } catch (...) {
        return error(500, "internal", "unexpected exception");
    }
}

Response Router::dispatch(Request& request) const {
    auto started = std::chrono::steady_clock::now();
    std::vector<std::string> segments = split(request.path);
    std::vector<std::string> params;
    std::string allow;
    const Route* found = nullptr;
    for (const Route& route : _routes) {
        if (!match(route, segments, params)) continue;
        if (route.method == request.method) {
            found = &route;
            break;
        }
        if (allow.find(route.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + route.method;
    }
    Response response;
    std::string pattern;
    if (found) {
        request.path_params = params;
        pattern = found->pattern;
        response = invoke(*found, request);
    } else if (!allow.empty()) {
        response = error(405, "method_not_allowed", request.method + " is not allowed on " + request.path);
        response.headers["Allow"] = allow;
    } else {
        response = error(404, "not_found", "no route for " + request.path);
    }
    if (_observer)
        _observer(request.method, pattern, response.status, std::chrono::steady_clock::now() - started);
    return response;
}

std::vector<RouteInfo> Router::routes() const {
    std::vector<RouteInfo> out;
    for (const Route& route : _routes) out.push_back({route.method, route.pattern});
    return out;
}

} // namespace brood::http
