// Kernels loaded from a file (KernelImage::open): the same guest memory as
// from bytes, with the file read only where the loader needs it, and clear
// errors for what is not a kernel file or changes while it is read.
#include <gtest/gtest.h>

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_images.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/loader/loader.hpp"

namespace brood::loader {
namespace {

using x86::kMiB;
namespace fs = std::filesystem;

class KernelFile : public ::testing::Test {
protected:
    void SetUp() override {
        _dir = fs::temp_directory_path() / ("brood-kernel-file-" + std::to_string(::getpid()));
        fs::create_directories(_dir);
    }
    void TearDown() override { fs::remove_all(_dir); }
    std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
        const std::string path = _dir / name;
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                    static_cast<std::streamsize>(bytes.size()));
        return path;
    }
    // Loads `bytes` from memory and from a file into two fresh guests; both
    // must come out the same.
    void expect_same_as_from_bytes(const std::vector<uint8_t>& bytes, uint64_t ram) {
        auto from_bytes = GuestMemory::anonymous(ram).value();
        auto from_file = GuestMemory::anonymous(ram).value();
        const BootParams p{"console=ttyS0", std::nullopt, 1};
        auto a = load_kernel(bytes, p, from_bytes);
        ASSERT_TRUE(a) << a.error().message();
        auto image = KernelImage::open(write("kernel", bytes));
        ASSERT_TRUE(image) << image.error().message();
        EXPECT_EQ(image->size(), bytes.size());
        auto b = load_kernel(*image, p, from_file);
        ASSERT_TRUE(b) << b.error().message();
        EXPECT_EQ(a->entry, b->entry);
        EXPECT_EQ(a->protocol, b->protocol);
        EXPECT_EQ(a->kernel_end, b->kernel_end);
        EXPECT_EQ(std::memcmp(from_bytes.host_base(), from_file.host_base(), ram), 0);
    }
    fs::path _dir;
};

TEST_F(KernelFile, ElfLoadsAsFromBytes) { expect_same_as_from_bytes(test::make_elf(test::small_pvh_kernel()), 32 * kMiB); }

TEST_F(KernelFile, BzImageLoadsAsFromBytes) { expect_same_as_from_bytes(test::make_bzimage(), 64 * kMiB); }

TEST_F(KernelFile, MissingFileOrDirectoryIsAClearError) {
    auto missing = KernelImage::open(_dir / "nope");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("cannot read kernel"), std::string::npos) << missing.error().message();
    auto dir = KernelImage::open(_dir);
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message().find("not a regular file"), std::string::npos) << dir.error().message();
}

TEST_F(KernelFile, AFileThatShrinksWhileLoadingFailsCleanly) {
    const auto bytes = test::make_elf(test::small_pvh_kernel());
    const std::string path = write("kernel", bytes);
    auto image = KernelImage::open(path);
    ASSERT_TRUE(image) << image.error().message();
    ASSERT_EQ(::truncate(path.c_str(), 200), 0); // headers stay, segments go
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    auto entry = load_kernel(*image, {"", std::nullopt, 1}, mem);
    ASSERT_FALSE(entry);
    EXPECT_NE(entry.error().message().find("shrank while it was read"), std::string::npos)
        << entry.error().message();
}

TEST_F(KernelFile, ReadsPastTheEndAreRefused) {
    const std::vector<uint8_t> bytes(100, 0x5a);
    auto image = KernelImage::open(write("small", bytes));
    ASSERT_TRUE(image) << image.error().message();
    std::vector<uint8_t> out(10);
    EXPECT_TRUE(image->read(90, out));
    EXPECT_FALSE(image->read(91, out));
    EXPECT_FALSE(image->read(UINT64_MAX - 4, out)) << "no overflow";
    EXPECT_FALSE(image->copy(50, UINT64_MAX));
}

TEST_F(KernelFile, AnOversizedNoteSegmentIsNotAKernel) {
    auto spec = test::small_pvh_kernel();
    auto bytes = test::make_elf(spec);
    // Point the note's program header at 2 MiB of file.
    bytes.resize(bytes.size() + 2 * kMiB, 0);
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof(eh));
    bool found = false;
    for (uint16_t i = 0; i < eh.e_phnum; ++i) {
        uint8_t* at = bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr);
        Elf64_Phdr ph;
        std::memcpy(&ph, at, sizeof(ph));
        if (ph.p_type != PT_NOTE) continue;
        ph.p_offset = 0;
        ph.p_filesz = bytes.size();
        std::memcpy(at, &ph, sizeof(ph));
        found = true;
    }
    ASSERT_TRUE(found) << "the test kernel has a PT_NOTE";
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    auto entry = load_kernel(bytes, {"", std::nullopt, 1}, mem);
    ASSERT_FALSE(entry);
    EXPECT_NE(entry.error().message().find("note segment"), std::string::npos) << entry.error().message();
}

} // namespace
} // namespace brood::loader
