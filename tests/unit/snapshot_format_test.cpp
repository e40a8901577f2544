// The state file container and the snapshot contract (each component's codec
// and the registry that matches sections to components), without KVM.
#include <gtest/gtest.h>

#include <cstring>

#include "vmm/devices/acpi_pm.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/machine_config.hpp"
#include "vmm/snapshot/persist.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood::snapshot {
namespace {

// Stand-ins for the KVM-backed components: plain state in, plain state out.
template <typename State>
struct Holder {
    State value;
    State save() const { return value; }
    void restore(const State& s) { value = s; }
};

struct VcpuHolder : Holder<kvm::VcpuSnapshot> {
    Result<void> check(const kvm::VcpuSnapshot& s) const {
        if (s.index != value.index) return fail("vcpu sections out of order");
        return {};
    }
};

// A machine's components, registered in the order brood-vmm uses.
struct Components {
    MachineConfig config;
    Holder<kvm::VmState> vm;
    std::vector<VcpuHolder> vcpus;
    devices::Serial serial{[](bool) {}, [](uint8_t) {}};
    devices::I8042 i8042{[](bool) {}, [](devices::GuestRequest) {}};
    devices::AcpiPm pm{[](devices::GuestRequest) {}};
    Registry registry;

    explicit Components(uint32_t n) : vcpus(n) {
        config = {256ull << 20, n, "", {{1 << 20, true}}};
        for (uint32_t i = 0; i < n; ++i) vcpus[i].value.index = i;
        registry.add<MachineConfigCodec>(config);
        registry.add<kvm::VmStateCodec>(vm);
        for (auto& v : vcpus) registry.add<kvm::VcpuCodec>(v);
        registry.add<devices::SerialCodec>(serial);
        registry.add<devices::I8042Codec>(i8042);
        registry.add<devices::AcpiPmCodec>(pm);
    }
    Result<void> restore_from(std::span<const uint8_t> file) {
        auto sections = TRY(decode_state_file(file));
        TRY(registry.load(sections));
        return registry.apply();
    }
};

std::vector<uint8_t> sample(uint32_t vcpus = 2) {
    Components c(vcpus);
    c.config.boot_description = R"({"kernel":"k"})";
    c.vm.value = {{1, 2, 3}, {4}, std::vector<uint8_t>(300, 7), {9, 9}, {5}};
    for (uint32_t i = 0; i < vcpus; ++i) {
        auto& v = c.vcpus[i].value;
        v.cpuid = {{1, 0, 0, 0x11, i << 24, 0x33, 0x44}, {7, 0, 1, 0, 0xff, 0, 0}};
        v.state.regs = std::vector<uint8_t>(144, static_cast<uint8_t>(i));
        v.state.xsave = std::vector<uint8_t>(4096, 0xaa);
        v.state.lapic = std::vector<uint8_t>(1024, 0x55);
        v.state.msrs = {{0x10, 12345}, {0x4b564d01, 0xdeadbeef}};
    }
    devices::SerialState serial;
    serial.ier = 1;
    serial.lcr = 3;
    serial.rx = {'a', 'b'};
    c.serial.restore(serial);
    devices::I8042State kbd;
    kbd.control = 0x45;
    kbd.output = {0xfa};
    c.i8042.restore(kbd);
    c.pm.restore({0x0120, 0x0401});
    auto bytes = c.registry.save();
    EXPECT_TRUE(bytes);
    return *bytes;
}

TEST(SnapshotFormat, RoundTripKeepsEverything) {
    Components c(2);
    auto ok = c.restore_from(sample());
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(c.config.boot_description, R"({"kernel":"k"})");
    EXPECT_EQ(c.vm.value.ioapic, std::vector<uint8_t>(300, 7));
    EXPECT_EQ(c.vcpus[1].value.cpuid[0].ebx, 1u << 24);
    EXPECT_EQ(c.vcpus[1].value.state.xsave, std::vector<uint8_t>(4096, 0xaa));
    EXPECT_EQ(c.vcpus[0].value.state.msrs[1].value, 0xdeadbeefu);
    EXPECT_EQ(c.serial.save().rx, (std::deque<uint8_t>{'a', 'b'}));
    EXPECT_EQ(c.serial.save().lcr, 3);
    EXPECT_EQ(c.i8042.save().control, 0x45);
    EXPECT_EQ(c.pm.save().enable, 0x0120);
    EXPECT_EQ(c.pm.save().control, 0x0401);
}

TEST(SnapshotFormat, HeaderFields) {
    auto bytes = sample();
    EXPECT_EQ(std::memcmp(bytes.data(), "BROODSNP", 8), 0);
    uint32_t version, arch;
    std::memcpy(&version, bytes.data() + 8, 4);
    std::memcpy(&arch, bytes.data() + 12, 4);
    EXPECT_EQ(version, kFormatVersion);
    EXPECT_EQ(arch, kArchX86_64);
}

TEST(SnapshotFormat, EveryTruncationIsRefused) {
    auto bytes = sample(1);
    for (size_t n = 0; n < bytes.size(); n += 7) {
        Components c(1);
        EXPECT_FALSE(c.restore_from(std::span(bytes.data(), n))) << "accepted a file cut at " << n;
    }
}

TEST(SnapshotFormat, EveryFlippedByteIsRefused) {
    auto bytes = sample(1);
    for (size_t i = 0; i < bytes.size(); i += 13) {
        auto bad = bytes;
        bad[i] ^= 0x01;
        Components c(1);
        EXPECT_FALSE(c.restore_from(bad)) << "accepted a flip at byte " << i;
    }
}

// Re-encode sections by hand, with a valid checksum, to reach the checks
// behind it.
std::vector<uint8_t> with_sections(std::vector<Section> sections) { return encode_state_file(sections); }

Result<void> restore_sections(std::vector<Section> sections, uint32_t vcpus) {
    Components c(vcpus);
    return c.restore_from(with_sections(std::move(sections)));
}

TEST(SnapshotFormat, NewerSectionVersionAndUnknownSectionsAreRefused) {
    auto sections = decode_state_file(sample(1));
    ASSERT_TRUE(sections);
    auto newer = *sections;
    newer[0].version = MachineConfigCodec::kind.version + 1;
    auto r = restore_sections(newer, 1);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("newer than supported"), std::string::npos);

    auto unknown = *sections;
    unknown.push_back({99, 1, {}});
    r = restore_sections(unknown, 1);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("unknown section"), std::string::npos);
}

TEST(SnapshotFormat, VcpuCountMismatchAndMissingSectionsAreRefused) {
    auto sections = decode_state_file(sample(2));
    ASSERT_TRUE(sections);
    auto fewer = *sections;
    fewer.erase(fewer.begin() + 3); // drop vcpu 1
    auto r = restore_sections(fewer, 2);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("holds 1 vcpu sections, this machine has 2"), std::string::npos)
        << r.error().message();

    auto no_vm = *sections;
    no_vm.erase(no_vm.begin() + 1);
    r = restore_sections(no_vm, 2);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("lacks a required section"), std::string::npos);

    auto swapped = *sections;
    std::swap(swapped[2], swapped[3]);
    r = restore_sections(swapped, 2);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("out of order"), std::string::npos);
}

TEST(SnapshotFormat, ABadFileChangesNoComponent) {
    auto sections = decode_state_file(sample(1));
    ASSERT_TRUE(sections);
    auto bad = *sections;
    bad.back().payload.pop_back(); // the last section (acpi-pm) is truncated
    Components c(1);
    EXPECT_FALSE(c.restore_from(with_sections(bad)));
    EXPECT_TRUE(c.serial.save().rx.empty()) << "a section was restored before the file was found bad";
    EXPECT_TRUE(c.vm.value.ioapic.empty());
}

TEST(SnapshotFormat, FilesWithoutTheAcpiPmSectionStillRestore) {
    auto sections = decode_state_file(sample(1));
    ASSERT_TRUE(sections);
    auto older = *sections;
    ASSERT_EQ(older.back().id, devices::AcpiPmCodec::kind.id);
    older.pop_back();
    Components c(1);
    auto r = c.restore_from(with_sections(older));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(c.pm.save().control, devices::AcpiPm::kSciEnable);
    EXPECT_EQ(c.serial.save().lcr, 3);
}

// A new component: plain state, a codec, and one add() line.
struct Widget {
    struct State {
        uint32_t level = 0;
    };
    State state;
    State save() const { return state; }
    void restore(const State& s) { state = s; }
};
struct WidgetCodec {
    using State = Widget::State;
    static constexpr SectionKind kind{77, 1, "widget"};
    static void encode(const State& s, ByteWriter& w) { w.u32(s.level); }
    static Result<State> decode(ByteReader& r, uint32_t) { return State{TRY(r.u32())}; }
};

TEST(SnapshotFormat, ANewComponentNeedsItsCodecAndOneRegistration) {
    Widget saved{{42}}, restored;
    Components a(1), b(1);
    a.registry.add<WidgetCodec>(saved);
    b.registry.add<WidgetCodec>(restored);
    auto bytes = a.registry.save();
    ASSERT_TRUE(bytes);
    auto r = b.restore_from(*bytes);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(restored.state.level, 42u);
}

TEST(SnapshotFormat, Crc32MatchesTheStandardCheckValue) {
    const std::string check = "123456789";
    EXPECT_EQ(crc32(std::span(reinterpret_cast<const uint8_t*>(check.data()), check.size())), 0xcbf43926u);
}

} // namespace
} // namespace brood::snapshot
