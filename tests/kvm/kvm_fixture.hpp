// Shared fixture for tests that run real VMs: skips only where /dev/kvm is
// absent, gives each test a scratch directory, and helpers for the test guest.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vm_process.hpp"

namespace brood::test {

class KvmTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available on this host: KVM tests cannot run";
        _dir = make_temp_dir("kvm");
    }
    void TearDown() override {
        if (!_dir.empty() && !HasFailure()) std::filesystem::remove_all(_dir);
    }

    const std::string& dir() const { return _dir; }
    std::string path(const std::string& name) const { return _dir + "/" + name; }
    // A subdirectory for one more VM process.
    std::string subdir(const std::string& name) const {
        std::filesystem::create_directories(path(name));
        return path(name);
    }

    // Boots the test guest and waits for its ready line.
    VmProcess boot_guest(uint64_t memory_mib, uint32_t vcpus, const std::string& in_dir,
                         std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"boot", "--kernel", test_guest_path(), "--memory-mib",
                                         std::to_string(memory_mib), "--vcpus", std::to_string(vcpus)};
        args.insert(args.end(), extra.begin(), extra.end());
        auto vm = VmProcess::start(args, in_dir);
        if (!vm) {
            ADD_FAILURE() << vm.error().message();
            std::abort();
        }
        auto ready = vm->wait_for("brood-guest ready", Millis(20'000));
        EXPECT_TRUE(ready) << (ready ? "" : ready.error().message());
        return std::move(*vm);
    }

private:
    std::string _dir;
};

// Runs a command and returns its output line, failing the test on timeout.
inline std::string ask(VmProcess& vm, const std::string& line, const std::string& expect,
                       Millis timeout = Millis(20'000)) {
    auto r = vm.command(line, expect, timeout);
    EXPECT_TRUE(r) << line << ": " << (r ? "" : r.error().message());
    return r ? *r : std::string();
}

} // namespace brood::test
