#include "vmm/memory/guest_memory.hpp"

#include <algorithm>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/file_copy.hpp"

namespace brood {

GuestLayout::GuestLayout(uint64_t ram_size) : _ram_size(ram_size) {
    uint64_t low = std::min(ram_size, kMmioGapStart);
    _regions.push_back({0, low, 0});
    if (ram_size > low) _regions.push_back({kHighStart, ram_size - low, low});
}

Result<uint64_t> GuestLayout::offset_of(uint64_t gpa, uint64_t len) const {
    for (const auto& r : _regions) {
        if (gpa >= r.guest_addr && gpa - r.guest_addr <= r.size && len <= r.size - (gpa - r.guest_addr))
            return r.host_offset + (gpa - r.guest_addr);
    }
    return fail(fmt::format("guest range {:#x}+{:#x} is not RAM", gpa, len));
}

Result<GuestMemory> GuestMemory::anonymous(uint64_t ram_size) {
    auto mapping = TRY_CTX(Mapping::anonymous_huge(ram_size), "allocate guest memory");
    return GuestMemory(GuestLayout(ram_size), std::move(mapping));
}

Result<std::span<uint8_t>> GuestMemory::span(uint64_t gpa, uint64_t len) {
    uint64_t off = TRY(_layout.offset_of(gpa, len));
    return std::span<uint8_t>(_mapping.data() + off, len);
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> bytes) {
    auto dst = TRY(span(gpa, bytes.size()));
    std::memcpy(dst.data(), bytes.data(), bytes.size());
    return {};
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
    uint64_t off = TRY(_layout.offset_of(gpa, out.size()));
    std::memcpy(out.data(), _mapping.data() + off, out.size());
    return {};
}

} // namespace brood

namespace brood {
namespace {

Result<UniqueFd> open_memory_file(const std::string& path, uint64_t ram_size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::from_errno(fmt::format("cannot open memory file {}", path)));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail_errno("stat memory file");
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("memory file {} is not a regular file", path));
    if (static_cast<uint64_t>(st.st_size) != ram_size)
        return fail(fmt::format("memory file {} is {} bytes, the snapshot's memory is {} bytes", path, st.st_size,
                                ram_size));
    return fd;
}

} // namespace

Result<GuestMemory> GuestMemory::private_file(const std::string& path, uint64_t ram_size) {
    auto fd = TRY(open_memory_file(path, ram_size));
    auto mapping = TRY_CTX(Mapping::of_file(fd.get(), ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE),
                           "map memory file");
    return GuestMemory(GuestLayout(ram_size), std::move(mapping), MemoryBacking{path, std::move(fd)});
}

Result<GuestMemory> GuestMemory::copy_of_file(const std::string& path, uint64_t ram_size) {
    auto fd = TRY(open_memory_file(path, ram_size));
    auto memory = TRY(anonymous(ram_size));
    uint8_t* base = memory.host_base();
    TRY(for_each_data_extent(fd.get(), [&](uint64_t offset, uint64_t length) -> Result<void> {
        uint64_t done = 0;
        while (done < length) {
            ssize_t n = ::pread(fd.get(), base + offset + done, length - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return fail(Error::from_errno(fmt::format("read memory file {}", path)));
            done += static_cast<uint64_t>(n);
        }
        return {};
    }));
    return memory;
}

} // namespace brood
