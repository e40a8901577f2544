// HTTP/1.1 request and response values, shared by the server and the client.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace brood::http {

using Headers = std::map<std::string, std::string>; // keys are lower-case

struct Request {
    std::string method;
    std::string path;  // without the query
    std::string query; // raw, after '?'
    Headers headers;
    std::string body;
    std::vector<std::string> path_params; // filled by the Router, in pattern order

    // Percent-decoded value of one query parameter, if present.
    std::optional<std::string> query_param(std::string_view name) const;
    // The header value, or "" when absent (name in lower case).
    std::string header(const std::string& name) const;
};

// Handed to a streaming response: each write() sends one chunk.
class ChunkWriter {
public:
    ChunkWriter() = default;
    ChunkWriter(const ChunkWriter&) = delete;
    ChunkWriter& operator=(const ChunkWriter&) = delete;
    virtual ~ChunkWriter() = default;
    // False when the peer is gone or the server is stopping: stop streaming.
    virtual bool write(std::string_view data) = 0;
    // False once the peer hung up or the server is stopping.
    virtual bool open() const = 0;
};

using StreamFn = std::function<void(ChunkWriter&)>;

struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    Headers headers;
    // When set, the body is produced by this callback with chunked encoding.
    StreamFn stream;
};

Response json(int status, const nlohmann::json& value);
// {"code": code, "message": message}
Response error(int status, std::string code, std::string message);
Response no_content();
Response streaming(std::string content_type, StreamFn fn);

std::string_view reason_phrase(int status);
std::string percent_decode(std::string_view text);
// For a query value: everything but unreserved characters and '/' as %XX.
std::string percent_encode(std::string_view text);
std::string to_lower(std::string_view text);

} // namespace brood::http
