// JSON shapes of the REST API (docs/openapi.yaml) and error mapping.
#pragma once

#include <nlohmann/json.hpp>

#include "common/http/message.hpp"
#include "manager/instance.hpp"
#include "manager/op_error.hpp"
#include "manager/template_record.hpp"

namespace brood::api {

nlohmann::json instance_json(const manager::InstanceView& view);
nlohmann::json template_json(const manager::TemplateRecord& record);
int status_of(manager::ErrorKind kind);
http::Response error_response(const manager::OpError& error);

// Parses a JSON object body; an empty body is {}. Throws nlohmann's
// exceptions (the Router answers 400) on malformed input.
nlohmann::json parse_object(const std::string& body);
// 400 unless every key of `body` is in `allowed`.
std::optional<http::Response> reject_unknown_fields(const nlohmann::json& body,
                                                    std::initializer_list<const char*> allowed);

} // namespace brood::api
