// One KVM vCPU: set-up, the run call decoded into a plain exit, and the
// state a snapshot needs.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/mapping.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/arch/x86_64/cpu_state.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/kvm/vm.hpp"

struct kvm_run;

namespace brood::kvm {

// Why KVM_RUN returned, without KVM's types.
struct VcpuExit {
    enum class Kind {
        io,            // port I/O: data points into the run page
        mmio,          // memory-mapped I/O outside RAM
        interrupted,   // a signal or immediate_exit asked us to stop
        shutdown,      // triple fault
        system_reset,  // KVM_SYSTEM_EVENT reset
        system_off,    // KVM_SYSTEM_EVENT shutdown
        internal_error,
        fail_entry,
        hlt,
        other,
    };
    Kind kind = Kind::other;
    bool is_write = false;
    uint16_t port = 0;
    uint64_t address = 0;
    uint32_t size = 0;  // bytes per access
    uint32_t count = 0; // repeated port accesses (rep ins/outs)
    std::span<uint8_t> data;
    uint32_t raw_reason = 0;
    uint64_t detail = 0; // suberror / hardware reason
};

// Per-vCPU state as KVM's own structs, kept as opaque bytes; MSRs as pairs.
struct VcpuState {
    std::vector<uint8_t> regs, sregs, xsave, xcrs, lapic, mp_state, events, debugregs;
    std::vector<x86::MsrEntry> msrs;
};

// One vCPU as a snapshot holds it: its index, the CPUID table it was given
// and its KVM state.
struct VcpuSnapshot {
    uint32_t index = 0;
    x86::CpuidTable cpuid;
    VcpuState state;
};

// The vcpu sections of a snapshot, one per vCPU, in order.
struct VcpuCodec {
    using State = VcpuSnapshot;
    static constexpr snapshot::SectionKind kind{3, 1, "vcpu"};
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class Vcpu final {
public:
    static Result<Vcpu> create(const Kvm& kvm, const Vm& vm, uint32_t index);

    uint32_t index() const { return _index; }
    int fd() const { return _fd.get(); }

    Result<void> set_cpuid(const x86::CpuidTable& table);
    Result<void> set_boot_state(const x86::BootCpuState& state);
    Result<void> set_msrs(const std::vector<x86::MsrEntry>& msrs);
    Result<void> set_default_fpu();
    // Read-modify-write of the LAPIC register page.
    template <typename F>
    Result<void> update_lapic(F&& edit);

    // Enter the guest until the next exit that needs userspace.
    Result<VcpuExit> run();
    // Makes the next (or current, once signalled) run() return at once.
    void set_immediate_exit(bool on);

    Result<VcpuState> save_state(const std::vector<uint32_t>& msr_indices);
    Result<uint64_t> read_msr(uint32_t index);
    // rip, rsp, control registers and EFER, on one line: what a crash report
    // needs to find where the guest was (or why they could not be read, or
    // that KVM reset them: on AMD SVM a triple fault leaves only INIT state).
    std::string register_summary();
    Result<void> restore_state(const VcpuState& state);
    // The TSC restore_state() wrote, and when: the guest's TSC runs on from
    // that value at that moment.
    struct TscWrite {
        uint64_t value = 0;
        std::chrono::steady_clock::time_point at;
    };
    const std::optional<TscWrite>& tsc_written() const { return _tsc_written; }
    // Tells a kvmclock guest that it was stopped (KVM_KVMCLOCK_CTRL): its
    // next clock read finds the flag in its pvclock record and forgives the
    // gap, so its clocksource, soft-lockup and RCU stall watchdogs do not
    // count the time it stood still. Not while the vCPU runs. Nothing to
    // tell, and no error, where the guest has no kvmclock enabled or KVM
    // cannot do it.
    Result<void> tell_guest_it_was_stopped();

    // The snapshot contract: save() needs the MSRs to save, given once.
    void set_snapshot_msrs(std::vector<uint32_t> indices) { _snapshot_msrs = std::move(indices); }
    const x86::CpuidTable& cpuid() const { return _cpuid; }
    Result<VcpuSnapshot> save();
    Result<void> check(const VcpuSnapshot& saved) const;
    Result<void> restore(const VcpuSnapshot& saved);

private:
    Vcpu(uint32_t index, UniqueFd fd, Mapping run_page)
        : _index(index), _fd(std::move(fd)), _run_page(std::move(run_page)) {}
    kvm_run* run_page() const;
    Result<void> get_lapic(std::span<uint8_t, 1024> regs);
    Result<void> set_lapic(std::span<const uint8_t, 1024> regs);

    uint32_t _index;
    UniqueFd _fd;
    Mapping _run_page;
    x86::CpuidTable _cpuid; // what set_cpuid() gave, saved in snapshots
    std::vector<uint32_t> _snapshot_msrs;
    std::optional<TscWrite> _tsc_written;
};

template <typename F>
Result<void> Vcpu::update_lapic(F&& edit) {
    alignas(8) uint8_t regs[1024];
    TRY(get_lapic(std::span<uint8_t, 1024>(regs)));
    edit(std::span<uint8_t, 1024>(regs));
    return set_lapic(std::span<const uint8_t, 1024>(regs));
}

} // namespace brood::kvm
