// A blocking HTTP/1.1 client over a unix or TCP socket, keeping its
// connection alive between requests (one request at a time per Client).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/http/conn.hpp"
#include "common/http/message.hpp"
#include "common/result.hpp"

namespace brood::http {

class Client final {
public:
    static Result<Client> connect_unix(const std::string& path);
    static Result<Client> connect_tcp(const std::string& host, uint16_t port);

    Client(Client&&) noexcept = default;
    Client& operator=(Client&&) noexcept = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client() = default;

    // Sends "Authorization: Bearer <token>" with every request.
    void set_bearer_token(std::string token) { _token = std::move(token); }

    // Errors (transport only; HTTP errors are Responses): ETIMEDOUT when no
    // complete answer came within timeout_ms (negative: no limit).
    [[nodiscard]] Result<Response> request(std::string_view method, std::string_view target,
                                           std::string_view body = "", int timeout_ms = 30'000);

    // For a streamed (chunked) answer: `on_data` gets each piece as it
    // arrives and returns false to stop. The returned Response has status and
    // headers; its body holds the whole answer only when it is not 2xx.
    // `idle_timeout_ms` bounds the wait for each piece (negative: no limit).
    using DataFn = std::function<bool(std::string_view)>;
    [[nodiscard]] Result<Response> stream(std::string_view method, std::string_view target, const DataFn& on_data,
                                          int idle_timeout_ms = -1, std::string_view body = "");

private:
    struct Address {
        bool is_unix = true;
        std::string path_or_host;
        uint16_t port = 0;
    };
    explicit Client(Address address) : _address(std::move(address)) {}
    [[nodiscard]] Result<void> ensure_connected();
    [[nodiscard]] Result<Response> exchange(std::string_view method, std::string_view target, std::string_view body,
                                            Deadline deadline, const DataFn* on_data, int idle_ms);
    [[nodiscard]] Result<Response> read_response(Deadline deadline, const DataFn* on_data, int idle_ms,
                                                 std::string_view method);

    Address _address;
    std::string _token;
    std::unique_ptr<Conn> _conn;
};

// Connects by path ("/run/x.sock") or "tcp://host:port".
Result<Client> connect(const std::string& address);

} // namespace brood::http
