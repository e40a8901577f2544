#include "vmm/control_api.hpp"

namespace brood {
namespace {

nlohmann::json body_of(const http::Request& req) {
    return req.body.empty() ? nlohmann::json::object() : nlohmann::json::parse(req.body);
}

} // namespace

http::Router make_control_router(ActionQueue& actions) {
    http::Router router;
    auto route = [&router, &actions](const char* method, const char* path, VmmActionKind kind, bool with_body) {
        router.add(method, path, [&actions, kind, with_body](http::Request& req) {
            VmmAction action{kind, with_body ? body_of(req) : nlohmann::json::object()};
            return actions.post(std::move(action));
        });
    };
    route("GET", "/vm", VmmActionKind::info, false);
    route("PUT", "/vm/pause", VmmActionKind::pause, false);
    route("PUT", "/vm/resume", VmmActionKind::resume, false);
    route("PUT", "/vm/shutdown", VmmActionKind::shutdown, true);
    route("PUT", "/vm/snapshot", VmmActionKind::snapshot, true);
    route("GET", "/vm/stats", VmmActionKind::stats, false);
    return router;
}

} // namespace brood
