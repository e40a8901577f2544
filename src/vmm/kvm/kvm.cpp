#include "vmm/kvm/kvm.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <fmt/format.h>

#include "vmm/kvm/kvm_abi.hpp"

namespace brood::kvm {

Result<Kvm> Kvm::open() {
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return fail("/dev/kvm does not exist: this host has no KVM (load kvm_intel or kvm_amd)", e);
        return fail(Error::from_errno("open /dev/kvm", e));
    }
    UniqueFd kvm_fd(fd);
    int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        return fail(fmt::format("/dev/kvm speaks API version {}, brood needs {}", version, KVM_API_VERSION));
    for (long cap : {KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_PIT2, KVM_CAP_EXT_CPUID,
                     KVM_CAP_SET_TSS_ADDR, KVM_CAP_IMMEDIATE_EXIT}) {
        if (::ioctl(fd, KVM_CHECK_EXTENSION, cap) <= 0)
            return fail(fmt::format("KVM lacks required capability {}", cap));
    }
    int mmap_size = ::ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size <= 0) return fail_errno("KVM_GET_VCPU_MMAP_SIZE");
    return Kvm(std::move(kvm_fd), static_cast<size_t>(mmap_size));
}

int Kvm::check_extension(long cap) const { return ::ioctl(_fd.get(), KVM_CHECK_EXTENSION, cap); }

uint32_t Kvm::max_vcpus() const {
    int n = check_extension(KVM_CAP_MAX_VCPUS);
    if (n <= 0) n = check_extension(KVM_CAP_NR_VCPUS);
    return n > 0 ? static_cast<uint32_t>(n) : 1;
}

Result<x86::CpuidTable> Kvm::supported_cpuid() const {
    for (uint32_t nent = 128; nent <= 4096; nent *= 2) {
        abi::FlexBuffer<abi::CpuidHeader, kvm_cpuid_entry2> buf(nent);
        buf.header().nent = nent;
        if (::ioctl(_fd.get(), abi::kGetSupportedCpuid, buf.data()) < 0) {
            if (errno == E2BIG) continue;
            return fail_errno("KVM_GET_SUPPORTED_CPUID");
        }
        x86::CpuidTable table;
        for (uint32_t i = 0; i < buf.header().nent; ++i) {
            const auto& e = buf.entries()[i];
            table.push_back({e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
        }
        return table;
    }
    return fail("KVM_GET_SUPPORTED_CPUID: table too large");
}

Result<std::vector<uint32_t>> Kvm::msr_index_list() const {
    abi::MsrListHeader probe{0};
    ::ioctl(_fd.get(), abi::kGetMsrIndexList, &probe); // fails with E2BIG, sets nmsrs
    abi::FlexBuffer<abi::MsrListHeader, uint32_t> buf(probe.nmsrs);
    buf.header().nmsrs = probe.nmsrs;
    if (::ioctl(_fd.get(), abi::kGetMsrIndexList, buf.data()) < 0) return fail_errno("KVM_GET_MSR_INDEX_LIST");
    return std::vector<uint32_t>(buf.entries(), buf.entries() + buf.header().nmsrs);
}

} // namespace brood::kvm
