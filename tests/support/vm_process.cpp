#include "vm_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/http/client.hpp"

extern char** environ;

namespace brood::test {
namespace {

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

} // namespace

std::string vmm_path() { return env_or("BROOD_VMM", BROOD_VMM_DEFAULT); }
std::string test_guest_path() { return env_or("BROOD_TEST_GUEST", BROOD_TEST_GUEST_DEFAULT); }
std::string assets_dir() { return env_or("BROOD_ASSETS", BROOD_ASSETS_DEFAULT); }
bool have_kvm() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }
bool hardware_kvm() {
    return have_kvm() && (::access("/sys/module/kvm_intel", F_OK) == 0 || ::access("/sys/module/kvm_amd", F_OK) == 0);
}

std::string make_temp_dir(const std::string& tag) {
    std::string tmpl = "/tmp/brood-" + tag + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return "/tmp";
    return buf.data();
}

std::string line_with(const std::string& text, const std::string& needle) {
    size_t at = text.rfind(needle);
    if (at == std::string::npos) return "";
    size_t begin = text.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    size_t end = text.find('\n', at);
    std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    return line;
}

Result<VmProcess> VmProcess::start(const std::vector<std::string>& args, const std::string& dir, Millis timeout) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) return fail_errno("pipe");
    UniqueFd ready_read(pipefd[0]), ready_write(pipefd[1]);

    std::vector<std::string> argv = {vmm_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    for (std::string extra : {"--serial-log", "--serial-socket", "--control-socket"}) argv.push_back(extra), argv.push_back("");
    argv[argv.size() - 5] = dir + "/serial.log";
    argv[argv.size() - 3] = dir + "/serial.sock";
    argv[argv.size() - 1] = dir + "/control.sock";
    argv.push_back("--ready-fd");
    argv.push_back("3");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, ready_write.get(), 3);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    VmProcess vm;
    vm._dir = dir;
    vm._started = Clock::now();
    int rc = ::posix_spawn(&vm._pid, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail(Error::from_errno("spawn brood-vmm", rc));
    ready_write.reset();

    pollfd pfd{ready_read.get(), POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    char buf[16] = {};
    ssize_t got = n > 0 ? ::read(ready_read.get(), buf, sizeof(buf)) : 0;
    if (got <= 0) {
        auto code = vm.wait_exit(Millis(n > 0 ? 2000 : 0));
        vm.kill_now();
        return fail(fmt::format("brood-vmm did not become ready ({})",
                                code ? fmt::format("exit code {}", *code) : std::string("timeout")));
    }
    UniqueFd serial(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir + "/serial.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(serial.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
        return fail_errno("connect serial socket");
    vm._serial = std::move(serial);
    return vm;
}

VmProcess::VmProcess(VmProcess&& o) noexcept
    : _pid(std::exchange(o._pid, -1)), _dir(std::move(o._dir)), _consumed(o._consumed), _serial(std::move(o._serial)),
      _started(o._started), _exit_code(o._exit_code) {}

VmProcess& VmProcess::operator=(VmProcess&& o) noexcept {
    if (this != &o) {
        kill_now();
        _pid = std::exchange(o._pid, -1);
        _dir = std::move(o._dir);
        _consumed = o._consumed;
        _serial = std::move(o._serial);
        _started = o._started;
        _exit_code = o._exit_code;
    }
    return *this;
}

VmProcess::~VmProcess() { kill_now(); }

void VmProcess::kill_now() {
    if (_pid > 0 && !_exit_code) {
        ::kill(_pid, SIGKILL);
        int status = 0;
        ::waitpid(_pid, &status, 0);
        _exit_code = 128 + SIGKILL;
    }
}

std::string VmProcess::read_log() const {
    std::ifstream in(serial_log(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string VmProcess::all_output() const { return read_log(); }

Result<std::string> VmProcess::wait_for(const std::string& text, Millis timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        std::string log = read_log();
        size_t at = log.find(text, _consumed);
        size_t end = at == std::string::npos ? at : log.find('\n', at);
        if (end == std::string::npos && at != std::string::npos && _exit_code) end = log.size() - 1;
        if (end != std::string::npos) {
            end += 1; // whole lines only: the guest may still be printing this one
            std::string out = log.substr(_consumed, end - _consumed);
            _consumed = end;
            return out;
        }
        if (Clock::now() > deadline)
            return fail(fmt::format("timed out waiting for \"{}\"; unread output: \"{}\"", text, log.substr(_consumed)));
        if (_pid > 0 && !_exit_code) {
            int status = 0;
            if (::waitpid(_pid, &status, WNOHANG) == _pid) {
                _exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                continue; // one more look at the log
            }
        } else if (_exit_code) {
            return fail(fmt::format("brood-vmm exited ({}) before \"{}\" appeared; output: \"{}\"", *_exit_code, text,
                                    log.substr(_consumed)));
        }
        std::this_thread::sleep_for(Millis(1));
    }
}

Result<void> VmProcess::send_line(const std::string& line) {
    std::string data = line + "\n";
    if (::send(_serial.get(), data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size()))
        return fail_errno("write serial socket");
    return {};
}

Result<std::string> VmProcess::command(const std::string& line, const std::string& expect, Millis timeout) {
    TRY(send_line(line));
    auto out = TRY(wait_for(expect, timeout));
    return line_with(out, expect);
}

Result<http::Response> VmProcess::api(const std::string& method, const std::string& path, const std::string& body) {
    auto client = TRY(http::Client::connect_unix(control_socket()));
    return client.request(method, path, body);
}

Result<int> VmProcess::wait_exit(Millis timeout) {
    if (_exit_code) return *_exit_code;
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(_pid, &status, WNOHANG);
        if (r == _pid) {
            _exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return *_exit_code;
        }
        if (r < 0) return fail_errno("waitpid");
        if (Clock::now() > deadline) return fail("brood-vmm did not exit in time");
        std::this_thread::sleep_for(Millis(1));
    }
}

} // namespace brood::test

namespace brood::test {

ProcessResult run_vmm(const std::vector<std::string>& args, Millis timeout) {
    ProcessResult result;
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) return result;
    UniqueFd err_read(pipefd[0]), err_write(pipefd[1]);
    std::vector<std::string> argv = {vmm_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return result;
    err_write.reset();
    auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        int left = static_cast<int>(std::chrono::duration_cast<Millis>(deadline - Clock::now()).count());
        pollfd pfd{err_read.get(), POLLIN, 0};
        if (left <= 0 || ::poll(&pfd, 1, left) <= 0) {
            ::kill(pid, SIGKILL);
            break;
        }
        ssize_t n = ::read(err_read.get(), buf, sizeof(buf));
        if (n <= 0) break;
        result.stderr_text.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

} // namespace brood::test
