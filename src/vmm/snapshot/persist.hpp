// The snapshot contract. Each component of a machine (vCPU, irqchip/PIT/
// clock, each device) owns its saved state as plain data, with save() and
// restore(), and a codec that turns that state into one state-file section
// of its own id and version. The machine lists its components in a
// Registry, in restore order; the registry alone writes and reads the
// sections, so adding a component touches its own file and one add() line.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "common/result.hpp"
#include "vmm/snapshot/bytes.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood::snapshot {

struct SectionKind {
    uint32_t id = 0;      // unique per kind of component; per-vCPU sections repeat it, in order
    uint32_t version = 0; // what save() writes; restore() reads this and every older version
    const char* name = "";
    bool required = true; // false: older state files lack it and restore keeps the defaults
};

// A codec is a struct with:
//   using State = ...;                                 plain data
//   static constexpr SectionKind kind = {...};
//   static void encode(const State&, ByteWriter&);     at kind.version
//   static Result<State> decode(ByteReader&, uint32_t version);
template <typename C>
concept Codec = requires(const typename C::State& s, ByteWriter& w, ByteReader& r) {
    { C::kind } -> std::convertible_to<SectionKind>;
    C::encode(s, w);
    { C::decode(r, uint32_t{}) } -> std::same_as<Result<typename C::State>>;
};

// What the Registry sees of one component.
class Persistent {
public:
    virtual ~Persistent() = default;
    virtual SectionKind kind() const = 0;
    virtual Result<std::vector<uint8_t>> save() = 0;
    // Decodes and checks a payload, changing nothing yet.
    virtual Result<void> load(std::span<const uint8_t> payload, uint32_t version) = 0;
    // Gives the component what load() decoded.
    virtual Result<void> apply() = 0;
};

namespace detail {
template <typename T> struct is_result : std::false_type {};
template <typename T> struct is_result<Result<T>> : std::true_type {};

// Calls f(), and makes a Result of what it returns (a value, void or a Result).
template <typename F>
auto as_result(F&& f) {
    using R = std::invoke_result_t<F>;
    if constexpr (is_result<R>::value) return f();
    else if constexpr (std::is_void_v<R>) {
        f();
        return Result<void>{};
    } else return Result<R>(f());
}
} // namespace detail

template <Codec C, typename Component>
class Persisted final : public Persistent {
public:
    explicit Persisted(Component& component) : _component(component) {}
    SectionKind kind() const override { return C::kind; }
    Result<std::vector<uint8_t>> save() override {
        auto state = TRY(detail::as_result([this] { return _component.save(); }));
        ByteWriter w;
        C::encode(state, w);
        return std::move(w.bytes());
    }
    Result<void> load(std::span<const uint8_t> payload, uint32_t version) override {
        ByteReader r(payload, std::string(C::kind.name) + " section");
        auto state = TRY(C::decode(r, version));
        if (r.remaining() != 0) return fail(fmt::format("{} section has trailing bytes", C::kind.name));
        // A component may refuse a state that does not fit it, before anything changes.
        if constexpr (requires { _component.check(state); }) TRY(_component.check(state));
        _loaded = std::move(state);
        return {};
    }
    Result<void> apply() override {
        if (!_loaded) return {}; // an optional section that the file lacks
        return detail::as_result([this] { return _component.restore(*_loaded); });
    }

private:
    Component& _component;
    std::optional<typename C::State> _loaded;
};

class Registry final {
public:
    // At build time, in restore order.
    template <Codec C, typename Component>
    void add(Component& component) {
        _components.push_back(std::make_unique<Persisted<C, Component>>(component));
    }
    void add(std::unique_ptr<Persistent> component) { _components.push_back(std::move(component)); }

    // Saves every component into one state file.
    Result<std::vector<uint8_t>> save() const;
    // Matches sections to components (the k-th section of an id goes to the
    // k-th component of that id), checks versions and decodes every payload:
    // a bad file fails here, before anything is restored.
    Result<void> load(std::span<const Section> sections);
    // Restores every component from what load() decoded, in order.
    Result<void> apply();

private:
    std::vector<std::unique_ptr<Persistent>> _components;
};

// The payload of the first section with this id, decoded by the codec: for
// what must be read before a machine exists (its shape).
template <Codec C>
Result<typename C::State> decode_section(std::span<const Section> sections) {
    for (const auto& s : sections) {
        if (s.id != C::kind.id) continue;
        if (s.version > C::kind.version)
            return fail(fmt::format("state file section {} has version {}, newer than supported ({})", s.id,
                                    s.version, C::kind.version));
        ByteReader r(s.payload, std::string(C::kind.name) + " section");
        return C::decode(r, s.version);
    }
    return fail(fmt::format("state file lacks a required section ({})", C::kind.name));
}

} // namespace brood::snapshot
