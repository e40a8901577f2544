// Routes through the guest agent: exec, file upload and download.
#pragma once

#include "common/http/router.hpp"
#include "manager/manager.hpp"

namespace brood::api {

void add_agent_routes(http::Router& router, manager::Manager& manager);

} // namespace brood::api
