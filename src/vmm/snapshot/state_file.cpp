#include "vmm/snapshot/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "common/unique_fd.hpp"
#include "vmm/snapshot/bytes.hpp"

namespace brood::snapshot {
uint32_t crc32(std::span<const uint8_t> data) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t crc = 0xffffffffu;
    for (uint8_t b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

std::vector<uint8_t> encode_state_file(const std::vector<Section>& sections) {
    ByteWriter w;
    w.raw(kMagic, sizeof(kMagic));
    w.u32(kFormatVersion);
    w.u32(kArchX86_64);
    w.u32(static_cast<uint32_t>(sections.size()));
    for (const auto& s : sections) {
        w.u32(s.id);
        w.u32(s.version);
        w.blob(s.payload);
    }
    w.u32(crc32(w.bytes()));
    return std::move(w.bytes());
}

Result<std::vector<Section>> decode_state_file(std::span<const uint8_t> file) {
    constexpr size_t kHeader = sizeof(kMagic) + 12;
    if (file.size() < kHeader + 4) return fail("state file is truncated (shorter than its header)");
    if (std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) return fail("not a brood snapshot state file (bad magic)");
    ByteReader header(file.subspan(sizeof(kMagic)), "state file header");
    uint32_t version = TRY(header.u32());
    uint32_t arch = TRY(header.u32());
    uint32_t count = TRY(header.u32());
    if (version > kFormatVersion)
        return fail(fmt::format("state file format version {} is newer than this brood-vmm supports ({})", version,
                                kFormatVersion));
    if (version == 0) return fail("state file format version 0 is invalid");
    if (arch != kArchX86_64) return fail(fmt::format("state file is for architecture {}, this host is x86_64", arch));
    auto body = file.first(file.size() - 4);
    uint32_t stored;
    std::memcpy(&stored, file.data() + body.size(), 4);
    if (crc32(body) != stored) return fail("state file is corrupted (checksum mismatch) or truncated");

    ByteReader r(body.subspan(kHeader), "state file");
    std::vector<Section> sections;
    for (uint32_t i = 0; i < count; ++i) {
        Section s;
        s.id = TRY(r.u32());
        s.version = TRY(r.u32());
        s.payload = TRY(r.blob());
        sections.push_back(std::move(s));
    }
    if (r.remaining() != 0) return fail("state file has trailing bytes");
    return sections;
}

Result<std::vector<uint8_t>> read_state_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::from_errno(fmt::format("cannot open state file {}", path)));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail_errno("stat state file");
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("state file {} is not a regular file", path));
    if (static_cast<uint64_t>(st.st_size) > kMaxStateFileSize)
        return fail(fmt::format("state file {} is {} bytes, above the {} MiB cap", path, st.st_size,
                                kMaxStateFileSize >> 20));
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno(fmt::format("read state file {}", path));
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

Result<void> write_file_atomically(const std::string& path, std::span<const uint8_t> bytes) {
    std::string tmp = path + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return fail(Error::from_errno(fmt::format("create {}", tmp)));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            Error e = Error::from_errno(fmt::format("write {}", tmp));
            ::unlink(tmp.c_str());
            return fail(std::move(e));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) < 0 || ::rename(tmp.c_str(), path.c_str()) < 0) {
        Error e = Error::from_errno(fmt::format("commit {}", path));
        ::unlink(tmp.c_str());
        return fail(std::move(e));
    }
    return {};
}

} // namespace brood::snapshot
