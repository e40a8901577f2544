#include "support/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

extern char** environ;

namespace brood::bench {
namespace {

struct Pipe {
    UniqueFd read_end, write_end;
};

Result<Pipe> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return fail_errno("pipe");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

class FileActions final {
public:
    FileActions() { posix_spawn_file_actions_init(&_actions); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    ~FileActions() { posix_spawn_file_actions_destroy(&_actions); }
    posix_spawn_file_actions_t* get() { return &_actions; }

private:
    posix_spawn_file_actions_t _actions;
};

int decode_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Live children, for the signal handler below (0: free slot).
constexpr size_t kMaxTracked = 256;
volatile sig_atomic_t g_children[kMaxTracked];

void track(pid_t pid) {
    for (auto& slot : g_children)
        if (slot == 0) {
            slot = pid;
            return;
        }
}

void untrack(pid_t pid) {
    for (auto& slot : g_children)
        if (slot == pid) slot = 0;
}

// A bench stopped by a signal takes its VMs with it, then dies of the signal.
extern "C" void kill_children_and_die(int signo) {
    for (auto& slot : g_children)
        if (slot > 0) ::kill(slot, SIGKILL);
    ::signal(signo, SIG_DFL);
    ::raise(signo);
}

void install_signal_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        // A VMM that died, or a closed stdout, is an error to report, not a reason to die.
        ::signal(SIGPIPE, SIG_IGN);
        struct sigaction action{};
        action.sa_handler = kill_children_and_die;
        sigemptyset(&action.sa_mask);
        for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &action, nullptr);
    });
}

} // namespace

Result<Child> Child::spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
    if (argv.empty()) return fail("spawn: empty command line");
    Child child;
    child._name = argv[0].substr(argv[0].rfind('/') + 1);
    child._stderr_path = options.stderr_path;
    FileActions actions;
    std::optional<Pipe> in, out, ready;
    if (options.stdin_pipe) {
        in = TRY(make_pipe());
        posix_spawn_file_actions_adddup2(actions.get(), in->read_end.get(), STDIN_FILENO);
    } else {
        posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    if (options.stdout_pipe) {
        out = TRY(make_pipe());
        posix_spawn_file_actions_adddup2(actions.get(), out->write_end.get(), STDOUT_FILENO);
    } else {
        posix_spawn_file_actions_addopen(actions.get(), STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    }
    if (!options.inherit_stderr || !options.stderr_path.empty()) {
        std::string err = options.stderr_path.empty() ? "/dev/null" : options.stderr_path;
        posix_spawn_file_actions_addopen(actions.get(), STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                         0644);
    }
    if (options.ready_pipe) {
        ready = TRY(make_pipe());
        posix_spawn_file_actions_adddup2(actions.get(), ready->write_end.get(), 3);
    }

    std::vector<std::string> args = argv;
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    install_signal_handlers();
    child._started = Clock::now();
    int rc = ::posix_spawnp(&child._pid, cargv[0], actions.get(), nullptr, cargv.data(), environ);
    if (rc != 0) return fail(Error::from_errno(fmt::format("spawn {}", argv[0]), rc));
    track(child._pid);
    if (in) child._stdin = std::move(in->write_end);
    if (out) child._stdout = LineReader(std::move(out->read_end));
    if (ready) child._ready = std::move(ready->read_end);
    return child; // the child's ends of the pipes close here
}

Child::Child(Child&& o) noexcept
    : _pid(std::exchange(o._pid, -1)), _name(std::move(o._name)), _started(o._started), _stdin(std::move(o._stdin)),
      _stdout(std::move(o._stdout)), _ready(std::move(o._ready)), _stderr_path(std::move(o._stderr_path)),
      _exit_code(o._exit_code) {}

Child& Child::operator=(Child&& o) noexcept {
    if (this != &o) {
        kill_now();
        _pid = std::exchange(o._pid, -1);
        _name = std::move(o._name);
        _started = o._started;
        _stdin = std::move(o._stdin);
        _stdout = std::move(o._stdout);
        _ready = std::move(o._ready);
        _stderr_path = std::move(o._stderr_path);
        _exit_code = o._exit_code;
    }
    return *this;
}

Child::~Child() { kill_now(); }

Result<void> Child::send(std::string_view text) {
    if (!_stdin) return fail(fmt::format("{}: stdin is not a pipe", _name));
    while (!text.empty()) {
        ssize_t n = ::write(_stdin.get(), text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail_errno(fmt::format("write to {}", _name));
        text.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

Result<Clock::time_point> Child::wait_ready(Clock::time_point deadline) {
    if (!_ready) return fail(fmt::format("{}: no ready pipe", _name));
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    pollfd pfd{_ready.get(), POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left, 0)));
    auto at = Clock::now();
    char buf[16];
    if (n <= 0 || ::read(_ready.get(), buf, sizeof(buf)) <= 0)
        return fail(fmt::format("{} did not become ready ({}); stderr: {}", _name, n == 0 ? "timeout" : "closed",
                                stderr_tail()));
    return at;
}

Result<int> Child::wait_exit(Clock::time_point deadline) {
    while (!_exit_code) {
        int status = 0;
        pid_t r = ::waitpid(_pid, &status, WNOHANG);
        if (r == _pid) {
            _exit_code = decode_status(status);
            untrack(_pid);
            break;
        }
        if (r < 0) return fail_errno("waitpid");
        if (Clock::now() >= deadline) return fail(fmt::format("{} (pid {}) is still running", _name, _pid));
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return *_exit_code;
}

void Child::stop(int signal, Millis grace) {
    if (_pid <= 0 || _exit_code) return;
    ::kill(_pid, signal);
    if (signal != SIGKILL && wait_exit(deadline_in(grace))) return;
    kill_now();
}

void Child::kill_now() {
    if (_pid <= 0 || _exit_code) return;
    ::kill(_pid, SIGKILL);
    int status = 0;
    if (::waitpid(_pid, &status, 0) == _pid) _exit_code = decode_status(status);
    else _exit_code = 128 + SIGKILL;
    untrack(_pid);
}

std::string Child::stderr_tail() const {
    if (_stderr_path.empty()) return "(not kept)";
    std::ifstream in(_stderr_path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 600) text = "..." + text.substr(text.size() - 600);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text.empty() ? "(empty)" : text;
}

} // namespace brood::bench
