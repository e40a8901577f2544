// REST routes for forks and templates.
#pragma once

#include "common/http/router.hpp"
#include "manager/manager.hpp"

namespace brood::api {

void add_fork_routes(http::Router& router, manager::Manager& manager);

} // namespace brood::api
