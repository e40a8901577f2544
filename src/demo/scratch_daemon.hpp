// The demo's own broodd: a scratch directory with the daemon's data and
// socket in it. Everything the demo starts names that directory on its
// command line (broodd, and the VMMs broodd spawns), so cleaning up is
// "kill whatever mentions it, then remove it": on a normal exit, on an
// error, and on Ctrl-C.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "client/broodd_process.hpp"
#include "common/result.hpp"

namespace brood::demo {

class ScratchDaemon final {
public:
    // Makes /tmp/brood-demo.XXXXXX (under $TMPDIR if set), starts
    // `broodd --data-dir DIR/data --socket DIR/brood.sock --vmm VMM
    // --images-dir IMAGES_DIR` with its log in DIR/broodd.log, and waits
    // until its API answers.
    [[nodiscard]] static Result<std::unique_ptr<ScratchDaemon>> start(const std::string& broodd,
                                                                      const std::string& vmm,
                                                                      const std::string& images_dir);
    ScratchDaemon(const ScratchDaemon&) = delete;
    ScratchDaemon& operator=(const ScratchDaemon&) = delete;
    // Stops broodd, kills anything left that mentions the directory, removes it.
    ~ScratchDaemon();

    const std::string& dir() const { return _dir; }
    std::string socket() const { return client::BrooddProcess::socket_in(_dir); }
    std::string data_dir() const { return client::BrooddProcess::data_dir_in(_dir); }
    // The last lines of broodd's log, for error messages.
    std::string log_tail() const { return _broodd ? _broodd->log_tail() : "(broodd did not start)"; }

private:
    explicit ScratchDaemon(std::string dir) : _dir(std::move(dir)) {}
    std::string _dir;
    std::optional<client::BrooddProcess> _broodd;
};

// On SIGINT, SIGTERM or SIGHUP: kill every process that mentions `dir`,
// remove `dir`, and exit with 128 + the signal.
void clean_up_on_signal(const std::string& dir);
// Whether a signal came: errors that follow are its doing, not worth a word.
bool interrupted();

} // namespace brood::demo
