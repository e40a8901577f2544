// HTTP/1.1 framing: reading heads and bodies, writing messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/http/conn.hpp"
#include "common/http/message.hpp"
#include "common/result.hpp"

namespace brood::http {

// Errors from this file use errno values the server maps to statuses:
//   EBADMSG  malformed (400)   EMSGSIZE  head too large (431)
//   EFBIG    body too large (413)   ENOTSUP  unsupported framing (501)
// plus the Conn errors (ETIMEDOUT, ECONNRESET, ECANCELED).

struct Limits {
    size_t max_head_bytes = 16 * 1024;
    size_t max_body_bytes = 4 * 1024 * 1024;
};

struct Head {
    std::string start_line;
    Headers headers;
};

// Reads a start line and headers. `first_byte` bounds the wait for the first
// line (keep-alive idle), `rest` the remainder of the head.
[[nodiscard]] Result<Head> read_head(Conn& conn, const Limits& limits, Deadline first_byte, Deadline rest);

struct RequestLine {
    std::string method, path, query;
};
[[nodiscard]] Result<RequestLine> parse_request_line(std::string_view line);
// Returns the status code of "HTTP/1.1 200 OK".
[[nodiscard]] Result<int> parse_status_line(std::string_view line);

// Reads a body framed by Content-Length or chunked transfer coding. With
// neither, the body is empty, or when `until_close` it runs to EOF.
[[nodiscard]] Result<std::string> read_body(Conn& conn, const Headers& headers, size_t max_body,
                                            bool until_close, Deadline deadline);
// One chunk of a chunked body; no value at the terminating chunk.
[[nodiscard]] Result<std::optional<std::string>> read_chunk(Conn& conn, size_t max_chunk, Deadline deadline);
bool is_chunked(const Headers& headers);
// True when the peer asked to close after this message.
bool wants_close(const Headers& headers);

// Finds where one request ends in the bytes received so far, without
// consuming them, so a server can wait for a whole request before it gives
// the connection a thread. Feed it the same growing buffer (starting at the
// request's first byte) each time; it resumes where it stopped. A malformed
// or oversized request is reported complete at the point where read_head and
// read_body detect the fault from buffered bytes alone.
class RequestFramer final {
public:
    // The request's size once complete; no value while bytes are missing.
    // Fails with EMSGSIZE when the head grows past the limit.
    [[nodiscard]] Result<std::optional<size_t>> scan(std::string_view data, const Limits& limits);
    bool head_done() const { return _head_end != 0; }
    void reset() { *this = RequestFramer{}; }

private:
    std::optional<size_t> scan_chunks(std::string_view data, const Limits& limits);

    size_t _scanned = 0;  // the search for the end of the head resumes here
    size_t _head_end = 0; // 0 until the head is complete
    bool _chunked = false;
    size_t _length = 0;     // Content-Length
    size_t _chunk_at = 0;   // next chunk-size line
    size_t _body_bytes = 0; // chunk data seen so far
};

std::string format_response_head(const Response& response, bool keep_alive, size_t content_length);
std::string format_chunk(std::string_view data);
std::string format_request(std::string_view method, std::string_view target, const Headers& headers,
                           std::string_view body);

} // namespace brood::http
