// GET /instances/{id}/logs[?follow=true][&tail=N]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "api/json_views.hpp"
#include "api/routes.hpp"
#include "common/unique_fd.hpp"

namespace brood::api {

namespace {

constexpr size_t kMaxPlainLog = 16 * 1024 * 1024;

// Offset where the last `lines` lines of the file start; no further back
// than kMaxPlainLog from the end, so one huge line costs a bounded scan.
off_t tail_offset(int fd, size_t lines) {
    off_t size = ::lseek(fd, 0, SEEK_END);
    if (size <= 0) return 0;
    size_t seen = 0;
    off_t pos = size;
    const off_t floor = size > static_cast<off_t>(kMaxPlainLog) ? size - static_cast<off_t>(kMaxPlainLog) : 0;
    char buf[4096];
    while (pos > floor) {
        off_t chunk = std::min<off_t>(pos - floor, static_cast<off_t>(sizeof buf));
        pos -= chunk;
        if (::pread(fd, buf, static_cast<size_t>(chunk), pos) != chunk) return 0;
        for (off_t i = chunk - 1; i >= 0; --i) {
            if (buf[i] != '\n' || pos + i == size - 1) continue;
            if (++seen == lines) return pos + i + 1;
        }
    }
    return floor;
}

// The VMM rotates the serial log at its cap (PATH becomes PATH.1): true when
// PATH now names another file than `fd`.
bool rotated(int fd, const std::string& path) {
    struct stat open_st{}, path_st{};
    if (::fstat(fd, &open_st) < 0 || ::stat(path.c_str(), &path_st) < 0) return false;
    return open_st.st_ino != path_st.st_ino || open_st.st_dev != path_st.st_dev;
}

std::string read_from(int fd, off_t& offset, size_t max) {
    std::string out;
    char buf[16384];
    while (out.size() < max) {
        ssize_t n = ::pread(fd, buf, sizeof buf, offset);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        offset += n;
    }
    return out;
}

} // namespace

http::Response logs_response(manager::Manager& m, const http::Request& request) {
    const std::string ref = request.path_params.at(0);
    auto path = m.serial_log(ref);
    if (!path) return error_response(path.error());
    bool follow = request.query_param("follow").value_or("false") == "true";
    std::optional<size_t> tail;
    if (auto t = request.query_param("tail")) {
        try {
            tail = std::stoul(*t);
        } catch (const std::exception&) {
            return http::error(400, "bad_request", "tail must be a non-negative integer");
        }
    }
    UniqueFd fd(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
    off_t start = 0;
    if (fd && tail) start = tail_offset(fd.get(), *tail);
    if (fd && !tail) {
        off_t size = ::lseek(fd.get(), 0, SEEK_END);
        if (size > static_cast<off_t>(kMaxPlainLog)) start = size - static_cast<off_t>(kMaxPlainLog);
    }
    if (!follow) {
        http::Response r;
        r.content_type = "text/plain; charset=utf-8";
        if (fd) r.body = read_from(fd.get(), start, kMaxPlainLog);
        return r;
    }
    auto shared_fd = std::make_shared<UniqueFd>(std::move(fd));
    std::string log_path = *path;
    return http::streaming("text/plain; charset=utf-8", [&m, ref, log_path, shared_fd, start](http::ChunkWriter& w) {
        off_t offset = start;
        int idle_rounds = 0;
        while (w.open()) {
            if (!*shared_fd) shared_fd->reset(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
            std::string data = *shared_fd ? read_from(shared_fd->get(), offset, 1 << 20) : std::string{};
            if (!data.empty()) {
                idle_rounds = 0;
                if (!w.write(data)) return;
                continue;
            }
            if (*shared_fd && rotated(shared_fd->get(), log_path)) { // the old file is read to its end
                shared_fd->reset(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
                offset = 0;
                continue;
            }
            // Follow ends once the VMM is gone and its last output was sent.
            if (!m.vmm_alive(ref) && ++idle_rounds > 2) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
}

} // namespace brood::api
