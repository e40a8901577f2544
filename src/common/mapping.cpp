#include "common/mapping.hpp"

namespace brood {

Result<Mapping> Mapping::anonymous(size_t size) {
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (addr == MAP_FAILED) return fail_errno("mmap anonymous memory");
    return Mapping(addr, size);
}

Result<Mapping> Mapping::of_file(int fd, size_t size, int prot, int flags, off_t offset) {
    void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
    if (addr == MAP_FAILED) return fail_errno("mmap file");
    return Mapping(addr, size);
}

} // namespace brood
