// copy_instance_dir: what a fork inherits from its source's directory.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/file_copy.hpp"
#include "common/unique_fd.hpp"
#include "manager/dir_copy.hpp"

using namespace brood::manager;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
}

// A sparse file of `size` bytes with 4 KiB of data at each of `offsets`.
void write_sparse(const fs::path& p, uint64_t size, std::initializer_list<uint64_t> offsets) {
    fs::create_directories(p.parent_path());
    brood::UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
    std::string page(4096, 'm');
    for (uint64_t off : offsets) {
        page[0] = static_cast<char>('a' + (off >> 20) % 26);
        ASSERT_EQ(::pwrite(fd.get(), page.data(), page.size(), static_cast<off_t>(off)), 4096);
    }
}

// The 4 KiB at `offset`.
std::string page_at(const fs::path& p, uint64_t offset) {
    std::ifstream in(p, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::string page(4096, '\0');
    in.read(page.data(), 4096);
    return page;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t allocated_bytes(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Binds a unix socket at `path`; the fd keeps it alive.
brood::UniqueFd bind_socket(const fs::path& path) {
    brood::UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string s = path.string();
    std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
    EXPECT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << s;
    return sock;
}

class DirCopy : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-copy-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        src = root / "src";
        dst = root / "dst";
        fs::create_directories(src);
        fs::create_directories(dst);
    }
    void TearDown() override { fs::remove_all(root); }

    fs::path root, src, dst;
};

} // namespace

TEST_F(DirCopy, CopiesStateAndSkipsWhatAForkMustNotInherit) {
    write(src / "metadata.json", "{}");
    write(src / "logs/serial.log", "old output");
    write(src / "logs/vmm.log", "old vmm log");
    write(src / "snapshots/snapshot-latest/state", "state");
    write(src / "snapshots/.tmp-1/memory", "staging");
    write(src / "snapshots/.old-3/memory", "moved aside");
    write(src / "snapshots/.trash-2/memory", "trash");
    write(src / "extra/skip-me", "x");
    write(src / "extra/keep-me", "y");
    write_sparse(src / "snapshots/snapshot-latest/memory", 64 << 20, {32 << 20});
    auto control = bind_socket(src / "control.sock");
    auto serial = bind_socket(src / "serial.sock");

    CopyOptions options;
    options.skip_rel_paths = {"extra/skip-me"};
    auto stats = copy_instance_dir(src.string(), dst.string(), options);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(read_all(dst / "snapshots/snapshot-latest/state"), "state");
    EXPECT_EQ(read_all(dst / "extra/keep-me"), "y");
    EXPECT_EQ(fs::file_size(dst / "snapshots/snapshot-latest/memory"), 64u << 20);
    EXPECT_EQ(page_at(dst / "snapshots/snapshot-latest/memory", 32 << 20)[0], 'a' + 32 % 26);
    for (const char* gone : {"metadata.json", "logs", "control.sock", "serial.sock", "snapshots/.tmp-1",
                             "snapshots/.old-3", "snapshots/.trash-2", "extra/skip-me"})
        EXPECT_FALSE(fs::exists(fs::symlink_status(dst / gone))) << gone;
    EXPECT_EQ(stats->files, 3u);
}

TEST_F(DirCopy, SkippedDirectoriesAreLeftOutWhole) {
    write(src / "snapshots/snapshot-latest/state", "state");
    write(src / "snapshots/snapshot-latest/memory", "memory");
    write(src / "disk.img", "disk");
    CopyOptions options;
    options.skip_rel_paths = {"snapshots"};
    auto stats = copy_instance_dir(src.string(), dst.string(), options);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_FALSE(fs::exists(dst / "snapshots"));
    EXPECT_EQ(read_all(dst / "disk.img"), "disk");
    EXPECT_EQ(stats->files, 1u);
}

TEST_F(DirCopy, TheMemoryFileCanBeSkippedAloneForATemplateFork) {
    write(src / "snapshots/snapshot-latest/state", "state");
    write(src / "snapshots/snapshot-latest/memory", "memory");
    CopyOptions options;
    options.skip_rel_paths = {"snapshots/snapshot-latest/memory"};
    ASSERT_TRUE(copy_instance_dir(src.string(), dst.string(), options));
    EXPECT_TRUE(fs::exists(dst / "snapshots/snapshot-latest/state"));
    EXPECT_FALSE(fs::exists(fs::symlink_status(dst / "snapshots/snapshot-latest/memory")));
}

TEST_F(DirCopy, HolesArePreservedAndDataIsExact) {
    // 256 MiB with three 4 KiB pages of data: the copy must stay as sparse
    // (a reflink shares the extents, a sparse copy keeps the holes).
    write_sparse(src / "memory", 256ull << 20, {0, 100ull << 20, (256ull << 20) - 4096});
    ASSERT_TRUE(copy_instance_dir(src.string(), dst.string()));
    EXPECT_EQ(fs::file_size(dst / "memory"), 256ull << 20);
    EXPECT_LE(allocated_bytes(dst / "memory"), allocated_bytes(src / "memory") + (64 << 10));
    EXPECT_LT(allocated_bytes(dst / "memory"), 1u << 20);
    for (uint64_t off : {0ull, 100ull << 20, (256ull << 20) - 4096, 50ull << 20})
        EXPECT_EQ(page_at(dst / "memory", off), page_at(src / "memory", off)) << off;
    EXPECT_EQ(page_at(dst / "memory", 50ull << 20), std::string(4096, '\0'));
}

TEST_F(DirCopy, SparseCopyWithoutReflinkKeepsHoles) {
    // The fallback path on its own: copy_fd_sparse into a file on a file
    // system without FICLONE between the two (or where FICLONE fails).
    write_sparse(src / "memory", 128ull << 20, {4096, 64ull << 20});
    brood::UniqueFd in(::open((src / "memory").c_str(), O_RDONLY | O_CLOEXEC));
    brood::UniqueFd out(::open((dst / "memory").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(in && out);
    auto copied = brood::copy_fd_sparse(in.get(), out.get(), brood::Reflink::never);
    ASSERT_TRUE(copied) << copied.error().message();
    EXPECT_FALSE(copied->reflinked);
    EXPECT_EQ(copied->bytes_copied, 2u * 4096) << "only the data extents are read and written";
    EXPECT_LT(allocated_bytes(dst / "memory"), 1u << 20);
    for (uint64_t off : {4096ull, 64ull << 20, 0ull, 100ull << 20})
        EXPECT_EQ(page_at(dst / "memory", off), page_at(src / "memory", off)) << off;
}

TEST_F(DirCopy, ADirectoryCopyWithoutReflinkCopiesTheDataExtents) {
    write_sparse(src / "snapshots/snapshot-latest/memory", 64ull << 20, {0, 32ull << 20});
    CopyOptions options;
    options.reflink = brood::Reflink::never;
    auto stats = copy_instance_dir(src.string(), dst.string(), options);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->reflinked, 0u);
    EXPECT_EQ(stats->bytes_copied, 2u * 4096);
    EXPECT_LT(allocated_bytes(dst / "snapshots/snapshot-latest/memory"), 1u << 20);
    EXPECT_EQ(page_at(dst / "snapshots/snapshot-latest/memory", 32ull << 20),
              page_at(src / "snapshots/snapshot-latest/memory", 32ull << 20));
}

TEST_F(DirCopy, SymlinksAreKeptAndLinksIntoTheSourceFollowTheCopy) {
    write(src / "snapshots/snapshot-latest/state", "state");
    write(root / "template-memory", "shared");
    fs::create_symlink(root / "template-memory", src / "snapshots/snapshot-latest/memory");
    fs::create_symlink("/somewhere/else", src / "link");
    fs::create_symlink("relative/target", src / "rel");
    fs::create_symlink(src / "snapshots/snapshot-latest/state", src / "inner");
    auto stats = copy_instance_dir(src.string(), dst.string());
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->links, 4u);
    // A link out of the source (a template's memory file) stays as it is.
    EXPECT_EQ(fs::read_symlink(dst / "snapshots/snapshot-latest/memory"), root / "template-memory");
    EXPECT_EQ(read_all(dst / "snapshots/snapshot-latest/memory"), "shared");
    EXPECT_EQ(fs::read_symlink(dst / "link"), "/somewhere/else");
    EXPECT_EQ(fs::read_symlink(dst / "rel"), "relative/target");
    // Nothing of the copy points into the source directory.
    EXPECT_EQ(fs::read_symlink(dst / "inner"), dst / "snapshots/snapshot-latest/state");
}

TEST_F(DirCopy, FailsCleanlyOnAMissingSource) {
    auto stats = copy_instance_dir((root / "nope").string(), dst.string());
    ASSERT_FALSE(stats);
    EXPECT_NE(stats.error().message().find("nope"), std::string::npos) << stats.error().message();
}

TEST_F(DirCopy, SyncTreeSyncsEveryFileAndDirectoryButFollowsNoLink) {
    write(src / "a", "1");
    write(src / "snapshots/snapshot-latest/state", "2");
    write(src / "disks/root.img", "3");
    fs::create_symlink("/nonexistent-target", src / "snapshots/snapshot-latest/memory");
    ASSERT_TRUE(copy_instance_dir(src.string(), dst.string()));
    auto synced = sync_tree(dst.string());
    ASSERT_TRUE(synced) << synced.error().message();
    EXPECT_EQ(synced->files, 3u);
    EXPECT_EQ(synced->directories, 4u) << "dst, snapshots, snapshot-latest, disks";

    EXPECT_FALSE(sync_tree((root / "missing").string()));
}
