#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "manager/dir_copy.hpp"

using namespace brood::manager;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
}

} // namespace

TEST(DirCopy, CopiesStateAndSkipsWhatAForkMustNotInherit) {
    char tmpl[] = "/tmp/brood-copy-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    fs::path root = tmpl, src = root / "src", dst = root / "dst";
    write(src / "metadata.json", "{}");
    write(src / "logs/serial.log", "old output");
    write(src / "snapshots/snapshot-latest/state", "state");
    write(src / "snapshots/.tmp-1/memory", "staging");
    write(src / "snapshots/.trash-2/memory", "trash");
    write(src / "extra/skip-me", "x");
    fs::create_symlink("/somewhere/else", src / "link");
    {
        // A sparse 64 MiB memory file with 4 KiB of data in the middle.
        std::ofstream mem(src / "snapshots/snapshot-latest/memory", std::ios::binary);
        mem.seekp(32 << 20);
        mem << std::string(4096, 'm');
        mem.seekp((64 << 20) - 1);
        mem << '\0';
    }
    brood::UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sock_path = (src / "control.sock").string();
    std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
    ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

    fs::create_directories(dst);
    CopyOptions options;
    options.skip_rel_paths = {"extra/skip-me"};
    auto stats = copy_instance_dir(src.string(), dst.string(), options);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_TRUE(fs::exists(dst / "snapshots/snapshot-latest/state"));
    EXPECT_EQ(fs::file_size(dst / "snapshots/snapshot-latest/memory"), 64u << 20);
    struct stat st {};
    ASSERT_EQ(::stat((dst / "snapshots/snapshot-latest/memory").c_str(), &st), 0);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the copy must stay sparse (or share extents)";
    EXPECT_EQ(fs::read_symlink(dst / "link"), "/somewhere/else");
    EXPECT_TRUE(fs::exists(dst / "extra"));
    for (const char* gone : {"metadata.json", "logs", "control.sock", "snapshots/.tmp-1", "snapshots/.trash-2",
                             "extra/skip-me"})
        EXPECT_FALSE(fs::exists(fs::symlink_status(dst / gone))) << gone;
    EXPECT_EQ(stats->files, 2u);
    fs::remove_all(root);
}
