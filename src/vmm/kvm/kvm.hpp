// The KVM system handle (/dev/kvm): capabilities and host-wide queries.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/arch/x86_64/cpu_state.hpp"

namespace brood::kvm {

class Kvm final {
public:
    // Opens /dev/kvm; the error says plainly when it is missing or not usable.
    static Result<Kvm> open();

    int fd() const { return _fd.get(); }
    int check_extension(long cap) const;
    uint32_t max_vcpus() const;
    size_t vcpu_mmap_size() const { return _vcpu_mmap_size; }

    Result<x86::CpuidTable> supported_cpuid() const;
    // MSRs that KVM can save and restore on this host.
    Result<std::vector<uint32_t>> msr_index_list() const;

private:
    explicit Kvm(UniqueFd fd, size_t mmap_size) : _fd(std::move(fd)), _vcpu_mmap_size(mmap_size) {}
    UniqueFd _fd;
    size_t _vcpu_mmap_size = 0;
};

} // namespace brood::kvm
