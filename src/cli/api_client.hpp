// The CLI's view of broodd: the client library's calls, with their
// errors printed and turned into exit codes.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "client/client.hpp"

namespace brood::cli {

// Exit codes of `brood` (docs/api.md).
enum ExitCode : int {
    kOk = 0,
    kInternal = 1,     // 500 or anything unexpected
    kUsage = 2,        // bad command line
    kBadRequest = 3,   // 400
    kNotFound = 4,     // 404
    kConflict = 5,     // 409
    kNotSupported = 6, // 501
    kTimeout = 7,      // 504
    kUnreachable = 8,  // no daemon at the socket
    kVmmDied = 9,      // 502: the VMM died during the operation
};

int exit_code_for_status(int status);

struct Answer {
    int status = 0;
    nlohmann::json body; // parsed when JSON
    std::string text;    // raw body
};

class ApiClient final {
public:
    ApiClient(std::string address, std::string token) : _address(std::move(address)), _token(std::move(token)) {}

    // Returns the exit code; on success fills `answer`. Prints errors to stderr.
    int call(const std::string& method, const std::string& path, const nlohmann::json* body, Answer& answer,
             int timeout_ms = 600'000);
    // The same with a raw body (a file upload); `answer.text` holds a raw answer.
    int call_bytes(const std::string& method, const std::string& path, std::string_view body, Answer& answer,
                   int timeout_ms = 600'000);
    // A streamed answer: GET logs?follow, or a POST with a body (a streamed
    // fan-out). Prints the error of a non-2xx answer.
    int stream(const std::string& path, const http::Client::DataFn& on_data, const std::string& method = "GET",
               const nlohmann::json& body = nullptr);

    // A streamed template fan-out (client::Client::fork_template_lines):
    // `on_line` prints each line. Prints a transport error, an unexpected
    // line or a refusal.
    int fork_template_lines(const std::string& template_ref, const nlohmann::json& body,
                            const client::Client::ForkLineFn& on_line);

private:
    std::optional<client::Client> connect_or_report();
    // The exit code of a reply, its error printed when it is not 2xx.
    static int report(const client::Reply& reply);
    std::string _address;
    std::string _token;
};

} // namespace brood::cli
