// The REST API of broodd: routes onto the manager (docs/openapi.yaml).
#pragma once

#include "common/http/router.hpp"
#include "manager/manager.hpp"

namespace brood::api {

http::Router make_router(manager::Manager& manager);

// GET /instances/{id}/logs: the serial log, streamed when ?follow=true.
http::Response logs_response(manager::Manager& manager, const http::Request& request);

} // namespace brood::api
