#include "vmm/snapshot/persist.hpp"

#include <map>

namespace brood::snapshot {

Result<std::vector<uint8_t>> Registry::save() const {
    std::vector<Section> sections;
    for (const auto& c : _components) {
        auto payload = TRY_CTX(c->save(), fmt::format("save {}", c->kind().name));
        sections.push_back({c->kind().id, c->kind().version, std::move(payload)});
    }
    return encode_state_file(sections);
}

Result<void> Registry::load(std::span<const Section> sections) {
    std::map<uint32_t, std::vector<Persistent*>> by_id;
    for (const auto& c : _components) by_id[c->kind().id].push_back(c.get());
    std::map<uint32_t, size_t> seen;
    for (const auto& s : sections) {
        auto it = by_id.find(s.id);
        if (it == by_id.end()) return fail(fmt::format("state file has an unknown section {}", s.id));
        size_t k = seen[s.id]++;
        Persistent* c = k < it->second.size() ? it->second[k] : nullptr;
        const char* name = it->second.front()->kind().name;
        if (!c)
            return fail(fmt::format("state file holds more {} sections than this machine has ({})", name,
                                    it->second.size()));
        if (s.version > c->kind().version)
            return fail(fmt::format("state file section {} has version {}, newer than supported ({})", s.id,
                                    s.version, c->kind().version));
        if (s.version == 0) return fail(fmt::format("state file section {} has version 0", s.id));
        TRY(c->load(s.payload, s.version));
    }
    for (const auto& [id, list] : by_id) {
        size_t found = seen.count(id) ? seen[id] : 0;
        if (found == 0 && !list.front()->kind().required) continue;
        if (found == 0) return fail(fmt::format("state file lacks a required section ({})", list.front()->kind().name));
        if (found != list.size())
            return fail(fmt::format("state file holds {} {} sections, this machine has {}", found,
                                    list.front()->kind().name, list.size()));
    }
    return {};
}

Result<void> Registry::apply() {
    for (const auto& c : _components) TRY_CTX(c->apply(), fmt::format("restore {}", c->kind().name));
    return {};
}

} // namespace brood::snapshot
