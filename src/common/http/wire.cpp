#include "common/http/wire.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace brood::http {

namespace {

bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

Result<void> parse_header_line(std::string_view line, Headers& headers) {
    if (line.front() == ' ' || line.front() == '\t') return fail("obsolete header folding", EBADMSG);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("malformed header line", EBADMSG);
    std::string_view name = line.substr(0, colon);
    for (char c : name)
        if (!is_token_char(c)) return fail("malformed header name", EBADMSG);
    std::string key = to_lower(name);
    std::string value(trim(line.substr(colon + 1)));
    auto [it, inserted] = headers.try_emplace(key, value);
    if (!inserted) {
        if (key == "content-length" && it->second != value) return fail("conflicting Content-Length", EBADMSG);
        if (key != "content-length") it->second += ", " + value;
    }
    return {};
}

Result<size_t> parse_size(std::string_view text, int base) {
    size_t value = 0;
    if (text.empty()) return fail("empty number", EBADMSG);
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc{} || ptr != text.data() + text.size()) return fail("malformed number", EBADMSG);
    return value;
}

} // namespace

Result<Head> read_head(Conn& conn, const Limits& limits, Deadline first_byte, Deadline rest) {
    Head head;
    // Tolerate empty lines before a request line (RFC 9112 section 2.2).
    for (int i = 0; i < 4 && head.start_line.empty(); ++i)
        head.start_line = TRY(conn.read_line(limits.max_head_bytes, i == 0 ? first_byte : rest));
    if (head.start_line.empty()) return fail("empty request line", EBADMSG);
    size_t used = head.start_line.size();
    for (;;) {
        if (used > limits.max_head_bytes) return fail("head too large", EMSGSIZE);
        std::string line = TRY(conn.read_line(limits.max_head_bytes - used, rest));
        used += line.size() + 2;
        if (line.empty()) return head;
        TRY(parse_header_line(line, head.headers));
    }
}

Result<RequestLine> parse_request_line(std::string_view line) {
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return fail("malformed request line", EBADMSG);
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (method.empty()) return fail("missing method", EBADMSG);
    for (char c : method)
        if (!is_token_char(c)) return fail("malformed method", EBADMSG);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail("unsupported HTTP version", EBADMSG);
    if (target.empty() || target.front() != '/') return fail("request target must be an absolute path", EBADMSG);
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail("malformed request target", EBADMSG);
    RequestLine out;
    out.method = std::string(method);
    size_t q = target.find('?');
    out.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
    return out;
}

Result<int> parse_status_line(std::string_view line) {
    if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ')
        return fail("malformed status line", EBADMSG);
    size_t code = TRY(parse_size(line.substr(9, 3), 10));
    if (code < 100 || code > 599) return fail("malformed status code", EBADMSG);
    return static_cast<int>(code);
}

bool is_chunked(const Headers& headers) {
    auto it = headers.find("transfer-encoding");
    return it != headers.end() && to_lower(it->second).find("chunked") != std::string::npos;
}

bool wants_close(const Headers& headers) {
    auto it = headers.find("connection");
    return it != headers.end() && to_lower(it->second).find("close") != std::string::npos;
}

Result<std::optional<std::string>> read_chunk(Conn& conn, size_t max_chunk, Deadline deadline) {
    std::string size_line = TRY(conn.read_line(256, deadline));
    std::string_view digits = trim(std::string_view(size_line).substr(0, size_line.find(';')));
    size_t size = TRY(parse_size(digits, 16));
    if (size > max_chunk) return fail("chunk too large", EFBIG);
    if (size == 0) {
        for (;;) { // trailers, ignored
            std::string trailer = TRY(conn.read_line(4096, deadline));
            if (trailer.empty()) return std::optional<std::string>{};
        }
    }
    std::string data = TRY(conn.read_exact(size, deadline));
    std::string end = TRY(conn.read_line(2, deadline));
    if (!end.empty()) return fail("malformed chunk", EBADMSG);
    return std::optional<std::string>(std::move(data));
}

Result<std::string> read_body(Conn& conn, const Headers& headers, size_t max_body, bool until_close,
                              Deadline deadline) {
    auto te = headers.find("transfer-encoding");
    if (te != headers.end()) {
        if (!is_chunked(headers)) return fail("unsupported transfer coding", ENOTSUP);
        std::string body;
        for (;;) {
            auto chunk = TRY(read_chunk(conn, max_body - body.size(), deadline));
            if (!chunk) return body;
            body += *chunk;
        }
    }
    auto cl = headers.find("content-length");
    if (cl != headers.end()) {
        size_t length = TRY(parse_size(cl->second, 10));
        if (length > max_body) return fail("body too large", EFBIG);
        return conn.read_exact(length, deadline);
    }
    if (until_close) return conn.read_to_end(max_body, deadline);
    return std::string{};
}

Result<std::optional<size_t>> RequestFramer::scan(std::string_view data, const Limits& limits) {
    if (_head_end == 0) {
        size_t start = data.find_first_not_of("\r\n");
        if (start == std::string_view::npos) {
            if (data.size() > limits.max_head_bytes) return fail("head too large", EMSGSIZE);
            return std::optional<size_t>{};
        }
        size_t from = std::max(start, _scanned >= 2 ? _scanned - 2 : 0);
        size_t end = std::string_view::npos;
        for (size_t nl = data.find('\n', from); nl != std::string_view::npos; nl = data.find('\n', nl + 1)) {
            if (nl + 1 < data.size() && data[nl + 1] == '\n') end = nl + 2;
            else if (nl + 2 < data.size() && data[nl + 1] == '\r' && data[nl + 2] == '\n') end = nl + 3;
            if (end != std::string_view::npos) break;
        }
        if (end == std::string_view::npos) {
            _scanned = data.size();
            if (data.size() - start > limits.max_head_bytes + 2) return fail("head too large", EMSGSIZE);
            return std::optional<size_t>{};
        }
        _head_end = end;
        // Parse the header lines as read_head will; on a fault, the head
        // alone is the request and the reader answers with the error.
        Headers headers;
        std::string_view lines = data.substr(start, end - start);
        lines.remove_prefix(std::min(lines.size(), lines.find('\n') + 1));
        while (!lines.empty()) {
            size_t nl = lines.find('\n');
            std::string_view line = lines.substr(0, nl);
            lines.remove_prefix(nl + 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) break;
            if (!parse_header_line(line, headers)) return std::optional<size_t>(_head_end);
        }
        auto te = headers.find("transfer-encoding");
        auto cl = headers.find("content-length");
        if (te != headers.end()) {
            if (!is_chunked(headers)) return std::optional<size_t>(_head_end);
            _chunked = true;
            _chunk_at = _head_end;
        } else if (cl != headers.end()) {
            auto length = parse_size(cl->second, 10);
            if (!length || *length > limits.max_body_bytes) return std::optional<size_t>(_head_end);
            _length = *length;
        }
    }
    if (_chunked) return scan_chunks(data, limits);
    if (data.size() - _head_end < _length) return std::optional<size_t>{};
    return std::optional<size_t>(_head_end + _length);
}

std::optional<size_t> RequestFramer::scan_chunks(std::string_view data, const Limits& limits) {
    constexpr size_t kMaxSizeLine = 256;
    for (;;) {
        size_t nl = data.find('\n', _chunk_at);
        if (nl == std::string_view::npos)
            return data.size() - _chunk_at > kMaxSizeLine + 2 ? std::optional<size_t>(data.size()) : std::nullopt;
        std::string_view line = data.substr(_chunk_at, nl - _chunk_at);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto size = parse_size(trim(line.substr(0, line.find(';'))), 16);
        // Malformed or too large: the reader fails on these bytes.
        if (!size || *size > limits.max_body_bytes - _body_bytes || line.size() > kMaxSizeLine) return nl + 1;
        if (*size == 0) {
            size_t at = nl + 1;
            for (;;) { // trailers, up to an empty line
                size_t end = data.find('\n', at);
                if (end == std::string_view::npos) return std::nullopt;
                std::string_view trailer = data.substr(at, end - at);
                at = end + 1;
                if (trailer.empty() || trailer == "\r") return at;
            }
        }
        size_t data_end = nl + 1 + *size;
        if (data.size() < data_end + 1) return std::nullopt;
        size_t next = data[data_end] == '\n' ? data_end + 1 : data_end + 2;
        if (data.size() < next) return std::nullopt;
        _body_bytes += *size;
        _chunk_at = next;
    }
}

std::string format_response_head(const Response& response, bool keep_alive, size_t content_length) {
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
    out += reason_phrase(response.status);
    out += "\r\n";
    if (!response.content_type.empty() && (response.stream || !response.body.empty()))
        out += "Content-Type: " + response.content_type + "\r\n";
    for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
    if (response.stream)
        out += "Transfer-Encoding: chunked\r\n";
    else if (response.status != 204 && response.status >= 200)
        out += "Content-Length: " + std::to_string(content_length) + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    out += "\r\n";
    return out;
}

std::string format_chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string out = size;
    out += data;
    out += "\r\n";
    return out;
}

std::string format_request(std::string_view method, std::string_view target, const Headers& headers,
                           std::string_view body) {
    std::string out;
    out.reserve(128 + body.size());
    out += method;
    out += ' ';
    out += target;
    out += " HTTP/1.1\r\n";
    for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

} // namespace brood::http
