// brood-agent: runs inside a guest and does what broodd asks over vsock
// (docs/guest-agent.md): run commands, move files, take fresh entropy.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "agent/server.hpp"

using namespace brood::agent;

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: brood-agent [--vsock-port N] [--listen-unix PATH] [--identity-log PATH]\n"
                 "  --vsock-port N        AF_VSOCK port to listen on, any CID (default %u)\n"
                 "  --listen-unix PATH    listen on a unix socket instead (tests on the host)\n"
                 "  --identity-log PATH   tests: log identity bytes instead of reseeding the kernel RNG\n",
                 kPort);
}

} // namespace

int main(int argc, char** argv) {
    uint32_t port = kPort;
    std::string unix_path;
    AgentOptions options;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        bool has_value = i + 1 < argc;
        if (arg == "--vsock-port" && has_value) {
            char* end = nullptr;
            unsigned long v = std::strtoul(argv[++i], &end, 10);
            if (!end || *end || v == 0 || v > 0xffffffffUL) {
                usage();
                return 2;
            }
            port = static_cast<uint32_t>(v);
        } else if (arg == "--listen-unix" && has_value) {
            unix_path = argv[++i];
        } else if (arg == "--identity-log" && has_value) {
            options.identity_log = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    // A command that closes its stdin early must not take the agent down.
    ::signal(SIGPIPE, SIG_IGN);
    auto listener = unix_path.empty() ? listen_vsock(port) : listen_unix(unix_path);
    if (!listener) {
        std::fprintf(stderr, "brood-agent: %s\n", listener.error().message().c_str());
        return 1;
    }
    std::fprintf(stderr, "brood-agent: listening on %s\n",
                 unix_path.empty() ? ("vsock port " + std::to_string(port)).c_str() : unix_path.c_str());
    auto served = serve(listener->get(), options);
    std::fprintf(stderr, "brood-agent: %s\n", served ? "stopped" : served.error().message().c_str());
    return 1;
}
