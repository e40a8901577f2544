#include "agent/exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "common/defer.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

namespace brood::agent {

namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
    UniqueFd read, write;
};

Result<Pipe> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe2");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
    std::vector<std::string> out;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        std::string key(entry.substr(0, entry.find('=')));
        if (!extra.count(key)) out.emplace_back(entry);
    }
    for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
    return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Appends what `fd` has now, keeping at most `cap` bytes; false at EOF.
bool drain(int fd, std::string& out, size_t cap, bool& truncated) {
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno == EAGAIN;
        if (n == 0) return false;
        size_t room = out.size() < cap ? cap - out.size() : 0;
        size_t keep = std::min(room, static_cast<size_t>(n));
        out.append(buf, keep);
        if (keep < static_cast<size_t>(n)) truncated = true;
    }
}

void decode_status(int status, ExecResult& result) {
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
        result.exit_code = 128 + result.signal;
    }
}

} // namespace

Result<ExecResult> run_command(const ExecRequest& request) {
    if (request.argv.empty()) return fail("cmd is empty", EINVAL);
    Pipe in = TRY(make_pipe());
    Pipe out = TRY(make_pipe());
    Pipe err = TRY(make_pipe());

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    Defer free_actions([&] { posix_spawn_file_actions_destroy(&actions); });
    posix_spawn_file_actions_adddup2(&actions, in.read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out.write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err.write.get(), 2);
    if (!request.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, request.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    Defer free_attr([&] { posix_spawnattr_destroy(&attr); });
    // Its own process group, so a timeout kills what it started too; default
    // signal dispositions and an empty mask, whatever the agent's threads use.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> args = request.argv;
    std::vector<std::string> env = merged_env(request.env);
    auto argv = pointers(args);
    auto envp = pointers(env);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    if (rc != 0) return fail(Error::from_errno("start " + request.argv[0], rc));
    in.read.reset();
    out.write.reset();
    err.write.reset();

    ExecResult result;
    for (int fd : {in.write.get(), out.read.get(), err.read.get()})
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t stdin_done = 0;
    if (request.stdin_data.empty()) in.write.reset();
    auto deadline = Clock::now() + std::chrono::milliseconds(request.timeout_ms);
    bool exited = false, out_open = true, err_open = true;
    int status = 0;
    Clock::time_point exited_at{};
    for (;;) {
        if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            exited_at = Clock::now();
        }
        // Done when both streams ended, or shortly after the command exited
        // (a background child it left may hold the pipes open).
        if (!out_open && !err_open && exited) break;
        if (exited && Clock::now() - exited_at > std::chrono::milliseconds(100)) break;
        if (!exited && Clock::now() >= deadline) {
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            exited = true;
            result.timed_out = true;
            break;
        }
        pollfd fds[3];
        nfds_t n = 0;
        if (out_open) fds[n++] = {out.read.get(), POLLIN, 0};
        if (err_open) fds[n++] = {err.read.get(), POLLIN, 0};
        if (in.write) fds[n++] = {in.write.get(), POLLOUT, 0};
        ::poll(fds, n, exited ? 10 : 20);
        if (out_open) out_open = drain(out.read.get(), result.stdout_data, request.max_output, result.stdout_truncated);
        if (err_open) err_open = drain(err.read.get(), result.stderr_data, request.max_output, result.stderr_truncated);
        if (in.write) {
            ssize_t w = ::write(in.write.get(), request.stdin_data.data() + stdin_done,
                                request.stdin_data.size() - stdin_done);
            if (w > 0) stdin_done += static_cast<size_t>(w);
            // EPIPE: the command does not read its stdin; that is its business.
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_done == request.stdin_data.size())
                in.write.reset();
        }
    }
    decode_status(status, result);
    return result;
}

} // namespace brood::agent
