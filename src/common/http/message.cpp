#include "common/http/message.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

namespace brood::http {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string percent_encode(std::string_view text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        size_t eq = pair.find('=');
        std::string key = percent_decode(pair.substr(0, eq));
        if (key != name) continue;
        if (eq == std::string_view::npos) return std::string{};
        return percent_decode(pair.substr(eq + 1));
    }
    return std::nullopt;
}

std::string Request::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
}

Response json(int status, const nlohmann::json& value) {
    Response r;
    r.status = status;
    // Strings that are not UTF-8 (a request path, guest output) must never
    // make an answer throw: each invalid byte becomes U+FFFD.
    r.body = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    r.body += '\n';
    return r;
}

Response error(int status, std::string code, std::string message) {
    return json(status, nlohmann::json{{"code", std::move(code)}, {"message", std::move(message)}});
}

Response no_content() {
    Response r;
    r.status = 204;
    r.content_type.clear();
    return r;
}

Response streaming(std::string content_type, StreamFn fn) {
    Response r;
    r.content_type = std::move(content_type);
    r.stream = std::move(fn);
    return r;
}

std::string_view reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

} // namespace brood::http
