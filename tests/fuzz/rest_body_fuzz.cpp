// broodd's REST request bodies: the first byte picks the route, the rest is
// the body. A body the routes refuse must be a 400, never a crash: the only
// exceptions allowed out are nlohmann's, which the router answers with 400.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "api/json_views.hpp"
#include "api/request_bodies.hpp"
#include "manager/fork_request.hpp"

using namespace brood;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 6) {
        case 0: {
            manager::CreateSpec spec;
            (void)api::parse_create_body(body, spec);
            break;
        }
        case 1: {
            std::optional<int> timeout;
            (void)api::parse_stop_body(body, timeout);
            break;
        }
        case 2: {
            api::ConsoleBody console;
            (void)api::parse_console_body(body, console);
            break;
        }
        case 3: {
            manager::TemplateSpec spec;
            (void)api::parse_template_body(body, spec);
            break;
        }
        case 4:
            (void)manager::parse_fork_request(api::parse_object(body), manager::ForkSource::instance);
            break;
        default:
            (void)manager::parse_fork_request(api::parse_object(body), manager::ForkSource::template_);
            break;
        }
    } catch (const nlohmann::json::exception&) {
        // The router's 400.
    }
    return 0;
}
