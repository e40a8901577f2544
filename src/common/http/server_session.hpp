// One request on a server connection: read it (already buffered by the
// event loop), dispatch it, write the answer. Runs on a worker thread.
#pragma once

#include "common/http/conn.hpp"
#include "common/http/router.hpp"

namespace brood::http {

struct ServerOptions;

// The router's answer; any exception escaping it becomes a 500 JSON answer.
Response dispatch_guarded(const Router& router, Request& request);

// Serves the request at the front of `conn`. True when the connection stays
// open for another request (keep-alive and every write succeeded).
bool serve_request(Conn& conn, const Router& router, const ServerOptions& options, int stop_fd);

// Writes `response` with one non-blocking send and no waiting: for answers
// the event loop gives before it closes a connection (408, 431, 503).
void send_now(Conn& conn, const Response& response);

} // namespace brood::http
