// The image directories: what a create may name, how broodd opens it again
// for the VMM, and what the VMM is told.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "manager/image_dirs.hpp"
#include "manager/vmm_args.hpp"

namespace brood::manager {
namespace {

namespace fs = std::filesystem;

class ImageDirsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = (fs::temp_directory_path() / "brood-images-XXXXXX").string();
        root = ::mkdtemp(templ.data());
        fs::create_directories(root + "/images/sub");
        fs::create_directories(root + "/data/guests/abc");
        fs::create_directories(root + "/elsewhere");
        kernel = root + "/images/sub/vmlinux";
        std::ofstream(kernel) << "kernel";
        std::ofstream(root + "/elsewhere/secret") << "secret";
        auto opened = ImageDirs::open({root + "/images"});
        ASSERT_TRUE(opened) << opened.error().message();
        images.emplace(std::move(*opened));
    }
    void TearDown() override { fs::remove_all(root); }
    std::string root, kernel;
    std::optional<ImageDirs> images;
};

TEST_F(ImageDirsTest, AFileInsideIsTakenByItsCanonicalPath) {
    auto ok = images->check("kernel", root + "/images/./sub/../sub/vmlinux", false);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(*ok, fs::canonical(kernel).string());
}

TEST_F(ImageDirsTest, PathsOutsideAreRefusedWithTheDirectoriesNamed) {
    for (const std::string& path : {root + "/elsewhere/secret", root + "/images/../elsewhere/secret",
                                    std::string("/etc/passwd"), root + "/images", std::string("/no/such/file")}) {
        SCOPED_TRACE(path);
        auto refused = images->check("kernel", path, false);
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().kind, ErrorKind::bad_request);
        EXPECT_NE(refused.error().message.find("outside the image directories (" + fs::canonical(root).string() +
                                               "/images)"),
                  std::string::npos)
            << refused.error().message;
    }
    // A symlink inside that leads out is judged by where it leads.
    fs::create_symlink(root + "/elsewhere/secret", root + "/images/link");
    auto link = images->check("initrd", root + "/images/link", false);
    ASSERT_FALSE(link);
    EXPECT_NE(link.error().message.find("outside"), std::string::npos) << link.error().message;
    // Inside, but missing or not a file.
    EXPECT_NE(images->check("kernel", root + "/images/missing", false).error().message.find("not found"),
              std::string::npos);
    EXPECT_NE(images->check("kernel", root + "/images/sub", false).error().message.find("not a regular file"),
              std::string::npos);
    EXPECT_NE(images->check("kernel", "vmlinux", false).error().message.find("absolute"), std::string::npos);
}

// What was checked at create is opened again when a VMM starts: a symlink
// swapped in since then does not lead out.
TEST_F(ImageDirsTest, OpeningAgainStaysBeneathTheDirectory) {
    auto checked = images->check("kernel", kernel, false);
    ASSERT_TRUE(checked);
    auto file = images->open_file(*checked, false);
    ASSERT_TRUE(file) << file.error().message();
    char buf[16] = {};
    EXPECT_EQ(::pread(file->get(), buf, sizeof buf, 0), 6);
    EXPECT_STREQ(buf, "kernel");

    fs::remove(kernel);
    fs::create_symlink(root + "/elsewhere/secret", kernel);
    auto swapped = images->open_file(*checked, false);
    ASSERT_FALSE(swapped) << "opened a file outside through a symlink";
    EXPECT_NE(swapped.error().message().find("leads out"), std::string::npos) << swapped.error().message();
    fs::remove(kernel);
    fs::create_symlink("../../elsewhere/secret", kernel);
    EXPECT_FALSE(images->open_file(*checked, false)) << "a relative symlink with .. led out";
    EXPECT_FALSE(images->open_file(root + "/elsewhere/secret", false));
}

// The VMM is told /proc/self/fd/N for an image, the path itself for the
// data directory's own files, and nothing for anything else.
TEST_F(ImageDirsTest, TheVmmGetsImagesAsOpenFiles) {
    Layout layout(root + "/data");
    VmmImageFiles files(*images, layout, 4);
    auto k = files.arg(fs::canonical(kernel).string(), false);
    ASSERT_TRUE(k) << k.error().message();
    EXPECT_EQ(*k, "/proc/self/fd/4");
    std::ofstream(root + "/images/disk.img") << std::string(512, 'd');
    auto d = files.arg(fs::canonical(root + "/images/disk.img").string(), true);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, "/proc/self/fd/5");
    auto own = files.arg(root + "/data/guests/abc/disk0.layer", true);
    ASSERT_TRUE(own);
    EXPECT_EQ(*own, root + "/data/guests/abc/disk0.layer");
    EXPECT_FALSE(files.arg(root + "/elsewhere/secret", false));
    auto fds = files.take();
    ASSERT_EQ(fds.size(), 2u);
    EXPECT_EQ(::fcntl(fds[1].get(), F_GETFL) & O_ACCMODE, O_RDWR);
    EXPECT_EQ(::fcntl(fds[0].get(), F_GETFL) & O_ACCMODE, O_RDONLY);
}

TEST(ImageDirs, EachDirectoryMustExist) {
    auto missing = ImageDirs::open({"/no/such/brood/images"});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("/no/such/brood/images"), std::string::npos);
    EXPECT_FALSE(ImageDirs::open({}));
}

} // namespace
} // namespace brood::manager
