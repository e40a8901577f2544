// The JSON bodies broodd's routes take, parsed and checked without touching
// the manager: each parser fills `out` or answers the 400 to send. A body
// that is not a JSON object throws nlohmann::json::exception, which the
// router answers with 400.
#pragma once

#include <optional>
#include <string>

#include "common/http/message.hpp"
#include "manager/manager.hpp"

namespace brood::api {

using BodyError = std::optional<http::Response>;

// POST /instances
BodyError parse_create_body(const std::string& body, manager::CreateSpec& out);

// POST /instances/{id}/stop: no value means the daemon's default timeout.
BodyError parse_stop_body(const std::string& body, std::optional<int>& timeout_ms);

// POST /instances/{id}/console
struct ConsoleBody {
    std::string input;
    std::string until;
    int timeout_ms = 5'000;
};
BodyError parse_console_body(const std::string& body, ConsoleBody& out);

// POST /instances/{id}/exec
BodyError parse_exec_body(const std::string& body, manager::ExecSpec& out);

// POST /templates
BodyError parse_template_body(const std::string& body, manager::TemplateSpec& out);

} // namespace brood::api
