// A move-only owner of one mmap()ed range.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "common/result.hpp"

namespace brood {

class Mapping final {
public:
    Mapping() = default;
    Mapping(void* addr, size_t size) : _addr(addr), _size(size) {}
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    Mapping(Mapping&& other) noexcept
        : _addr(std::exchange(other._addr, nullptr)), _size(std::exchange(other._size, 0)) {}
    Mapping& operator=(Mapping&& other) noexcept {
        if (this != &other) {
            reset();
            _addr = std::exchange(other._addr, nullptr);
            _size = std::exchange(other._size, 0);
        }
        return *this;
    }
    ~Mapping() { reset(); }

    // Private anonymous memory, zero-filled, reserved lazily (MAP_NORESERVE).
    static Result<Mapping> anonymous(size_t size);
    // The same, 2 MiB-aligned and advised to use transparent huge pages.
    static Result<Mapping> anonymous_huge(size_t size);
    // mmap(fd) with the given protection and flags (MAP_PRIVATE or MAP_SHARED).
    static Result<Mapping> of_file(int fd, size_t size, int prot, int flags, off_t offset = 0);

    uint8_t* data() const { return static_cast<uint8_t*>(_addr); }
    size_t size() const { return _size; }
    bool valid() const { return _addr != nullptr; }

    void reset() {
        if (_addr) ::munmap(_addr, _size);
        _addr = nullptr;
        _size = 0;
    }

private:
    void* _addr = nullptr;
    size_t _size = 0;
};

} // namespace brood
