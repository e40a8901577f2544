// Shared by the fork and template tests: a template made from a real guest,
// and the checks they repeat.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "file_hash.hpp"
#include "fixture.hpp"

namespace brood::testing {

using brood::test::file_hash;

inline bool is_symlink(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// The arguments of a running process.
inline std::vector<std::string> cmdline_of(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::vector<std::string> args;
    for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
    return args;
}

inline std::string arg_after(const std::vector<std::string>& args, const std::string& flag) {
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == flag) return args[i + 1];
    return "";
}

class Forks : public Broodd {
protected:
    // A Standby source "src" that counted to 1 and touched 8 MiB with seed 7,
    // promoted to template "tpl".
    nlohmann::json make_template() {
        running("src");
        EXPECT_EQ(daemon.console("src", "count", "count"), "count 1\n");
        EXPECT_NE(daemon.console("src", "touch 8 7", "touched").find("pages=2048"), std::string::npos);
        EXPECT_EQ(daemon.call("POST", "/instances/src/standby").status, 200);
        auto t = daemon.call("POST", "/templates", {{"instance", "src"}, {"name", "tpl"}, {"tags", {{"app", "demo"}}}});
        EXPECT_EQ(t.status, 201) << t.text;
        return t.body;
    }
    std::string memory_of(const std::string& id) const {
        return daemon.guests_dir() + "/" + id + "/snapshots/snapshot-latest/memory";
    }
    std::string id_of(const std::string& name) const {
        return daemon.call("GET", "/instances/" + name).body.value("id", "");
    }
    int fork_count() const { return daemon.call("GET", "/templates/tpl").body.value("fork_count", -1); }
    // POST /templates/tpl/fork; expects 201 and no errors, returns the instances.
    nlohmann::json fork_template(const nlohmann::json& body) const {
        auto r = daemon.call("POST", "/templates/tpl/fork", body);
        EXPECT_EQ(r.status, 201) << r.text;
        EXPECT_TRUE(r.body.contains("instances") && r.body.contains("errors")) << r.text;
        EXPECT_TRUE(r.body.value("errors", nlohmann::json::array()).empty()) << r.text;
        return r.body.value("instances", nlohmann::json::array());
    }
    // 409 with `code` and a message that holds `words`.
    void expect_conflict(const Reply& r, const std::string& code, const std::string& words) const {
        EXPECT_EQ(r.status, 409) << r.text;
        EXPECT_EQ(r.body.value("code", ""), code) << r.text;
        EXPECT_NE(r.body.value("message", "").find(words), std::string::npos) << r.text;
    }
};

} // namespace brood::testing
