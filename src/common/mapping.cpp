#include "common/mapping.hpp"

namespace brood {

Result<Mapping> Mapping::anonymous(size_t size) {
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (addr == MAP_FAILED) return fail_errno("mmap anonymous memory");
    return Mapping(addr, size);
}

Result<Mapping> Mapping::anonymous_huge(size_t size) {
    constexpr size_t kHuge = size_t{2} << 20;
    // Over-allocate, then trim to a 2 MiB-aligned range: only an aligned
    // range can be backed by (and mapped into a guest with) 2 MiB pages.
    auto* raw = static_cast<uint8_t*>(::mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE,
                                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (raw == MAP_FAILED) return fail_errno("mmap anonymous memory");
    const auto base = reinterpret_cast<uintptr_t>(raw);
    auto* aligned = reinterpret_cast<uint8_t*>((base + kHuge - 1) & ~(kHuge - 1));
    const size_t head = static_cast<size_t>(aligned - raw);
    if (head > 0) ::munmap(raw, head);
    if (kHuge - head > 0) ::munmap(aligned + size, kHuge - head);
    // Best effort: where transparent huge pages are off, this is a no-op.
    (void)::madvise(aligned, size, MADV_HUGEPAGE);
    return Mapping(aligned, size);
}

Result<Mapping> Mapping::of_file(int fd, size_t size, int prot, int flags, off_t offset) {
    void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
    if (addr == MAP_FAILED) return fail_errno("mmap file");
    return Mapping(addr, size);
}

} // namespace brood
