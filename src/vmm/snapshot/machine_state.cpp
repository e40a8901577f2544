#include "vmm/snapshot/machine_state.hpp"

#include "vmm/snapshot/bytes.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood::snapshot {
namespace {

void put_bytes_deque(ByteWriter& w, const std::deque<uint8_t>& q) {
    std::vector<uint8_t> v(q.begin(), q.end());
    w.blob(v);
}

Result<std::deque<uint8_t>> get_bytes_deque(ByteReader& r) {
    auto v = TRY(r.blob());
    return std::deque<uint8_t>(v.begin(), v.end());
}

std::vector<uint8_t> encode_vcpu(uint32_t index, const VcpuSnapshot& v) {
    ByteWriter w;
    w.u32(index);
    w.u32(static_cast<uint32_t>(v.cpuid.size()));
    for (const auto& e : v.cpuid) {
        for (uint32_t x : {e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx}) w.u32(x);
    }
    const auto& s = v.state;
    for (const auto* blob : {&s.regs, &s.sregs, &s.xsave, &s.xcrs, &s.lapic, &s.mp_state, &s.events, &s.debugregs})
        w.blob(*blob);
    w.u32(static_cast<uint32_t>(s.msrs.size()));
    for (const auto& m : s.msrs) {
        w.u32(m.index);
        w.u64(m.value);
    }
    return std::move(w.bytes());
}

Result<VcpuSnapshot> decode_vcpu(std::span<const uint8_t> payload, uint32_t expected_index) {
    ByteReader r(payload, "vcpu section");
    uint32_t index = TRY(r.u32());
    if (index != expected_index)
        return fail(fmt::format("vcpu sections out of order: found {}, expected {}", index, expected_index));
    VcpuSnapshot v;
    uint32_t n = TRY(r.u32());
    if (n > 4096) return fail("vcpu section has an absurd CPUID table");
    for (uint32_t i = 0; i < n; ++i) {
        x86::CpuidEntry e;
        for (uint32_t* x : {&e.function, &e.index, &e.flags, &e.eax, &e.ebx, &e.ecx, &e.edx}) *x = TRY(r.u32());
        v.cpuid.push_back(e);
    }
    auto& s = v.state;
    for (auto* blob : {&s.regs, &s.sregs, &s.xsave, &s.xcrs, &s.lapic, &s.mp_state, &s.events, &s.debugregs})
        *blob = TRY(r.blob());
    uint32_t nmsrs = TRY(r.u32());
    if (nmsrs > 4096) return fail("vcpu section has an absurd MSR list");
    for (uint32_t i = 0; i < nmsrs; ++i) {
        x86::MsrEntry m;
        m.index = TRY(r.u32());
        m.value = TRY(r.u64());
        s.msrs.push_back(m);
    }
    return v;
}

} // namespace

std::vector<uint8_t> encode_snapshot(const MachineSnapshot& snap) {
    std::vector<Section> sections;
    {
        ByteWriter w;
        w.u64(snap.config.memory_bytes);
        w.u32(snap.config.vcpus);
        w.str(snap.config.boot_description);
        sections.push_back({SectionId::machine, 1, std::move(w.bytes())});
    }
    {
        ByteWriter w;
        for (const auto* blob : {&snap.vm.pic_master, &snap.vm.pic_slave, &snap.vm.ioapic, &snap.vm.pit, &snap.vm.clock})
            w.blob(*blob);
        sections.push_back({SectionId::vm, 1, std::move(w.bytes())});
    }
    for (uint32_t i = 0; i < snap.vcpus.size(); ++i)
        sections.push_back({SectionId::vcpu, 1, encode_vcpu(i, snap.vcpus[i])});
    {
        ByteWriter w;
        const auto& s = snap.serial;
        for (uint8_t x : {s.ier, s.iir_fcr, s.lcr, s.mcr, s.scr, s.dll, s.dlm}) w.u8(x);
        w.u8(s.thre_pending ? 1 : 0);
        put_bytes_deque(w, s.rx);
        sections.push_back({SectionId::serial, 1, std::move(w.bytes())});
    }
    {
        ByteWriter w;
        w.u8(snap.i8042.control);
        w.u8(snap.i8042.pending_command);
        put_bytes_deque(w, snap.i8042.output);
        sections.push_back({SectionId::i8042, 1, std::move(w.bytes())});
    }
    return encode_state_file(sections);
}

Result<MachineSnapshot> decode_snapshot(std::span<const uint8_t> state_file) {
    auto sections = TRY(decode_state_file(state_file));
    MachineSnapshot snap;
    bool have_machine = false, have_vm = false, have_serial = false, have_i8042 = false;
    for (const auto& s : sections) {
        switch (s.id) {
        case SectionId::machine: {
            ByteReader r(s.payload, "machine section");
            snap.config.memory_bytes = TRY(r.u64());
            snap.config.vcpus = TRY(r.u32());
            snap.config.boot_description = TRY(r.str());
            have_machine = true;
            break;
        }
        case SectionId::vm: {
            ByteReader r(s.payload, "vm section");
            for (auto* blob : {&snap.vm.pic_master, &snap.vm.pic_slave, &snap.vm.ioapic, &snap.vm.pit, &snap.vm.clock})
                *blob = TRY(r.blob());
            have_vm = true;
            break;
        }
        case SectionId::vcpu:
            snap.vcpus.push_back(TRY(decode_vcpu(s.payload, static_cast<uint32_t>(snap.vcpus.size()))));
            break;
        case SectionId::serial: {
            ByteReader r(s.payload, "serial section");
            auto& st = snap.serial;
            for (uint8_t* x : {&st.ier, &st.iir_fcr, &st.lcr, &st.mcr, &st.scr, &st.dll, &st.dlm}) *x = TRY(r.u8());
            st.thre_pending = TRY(r.u8()) != 0;
            st.rx = TRY(get_bytes_deque(r));
            have_serial = true;
            break;
        }
        case SectionId::i8042: {
            ByteReader r(s.payload, "i8042 section");
            snap.i8042.control = TRY(r.u8());
            snap.i8042.pending_command = TRY(r.u8());
            snap.i8042.output = TRY(get_bytes_deque(r));
            have_i8042 = true;
            break;
        }
        }
    }
    if (!have_machine || !have_vm || !have_serial || !have_i8042)
        return fail("state file lacks a required section");
    if (snap.vcpus.size() != snap.config.vcpus)
        return fail(fmt::format("state file describes {} vCPUs but holds {}", snap.config.vcpus, snap.vcpus.size()));
    if (snap.config.memory_bytes == 0 || snap.config.memory_bytes % (1 << 20) != 0)
        return fail("state file has an invalid memory size");
    return snap;
}

} // namespace brood::snapshot
