#include "manager/registry.hpp"

namespace brood::manager {

std::shared_ptr<Instance> Registry::find(const std::string& id_or_name) const {
    std::lock_guard lock(_mutex);
    if (auto it = _by_id.find(id_or_name); it != _by_id.end()) return it->second;
    if (auto it = _names.find(id_or_name); it != _names.end() && !it->second.empty()) {
        if (auto inst = _by_id.find(it->second); inst != _by_id.end()) return inst->second;
    }
    return nullptr;
}

std::vector<std::shared_ptr<Instance>> Registry::all() const {
    std::lock_guard lock(_mutex);
    std::vector<std::shared_ptr<Instance>> out;
    for (const auto& [id, inst] : _by_id) out.push_back(inst);
    return out;
}

OpResult<void> Registry::reserve_name(const std::string& name) {
    std::lock_guard lock(_mutex);
    if (_names.count(name) || _by_id.count(name)) return name_taken("name \"" + name + "\" is already taken");
    _names[name] = "";
    return {};
}

void Registry::release_name(const std::string& name) {
    std::lock_guard lock(_mutex);
    if (auto it = _names.find(name); it != _names.end() && it->second.empty()) _names.erase(it);
}

void Registry::insert(std::shared_ptr<Instance> instance) {
    std::lock_guard lock(_mutex);
    if (instance->record.vsock_cid != 0) _cids.insert(instance->record.vsock_cid);
    _names[instance->record.name] = instance->id;
    _by_id[instance->id] = std::move(instance);
}

void Registry::erase(const std::string& id) {
    std::lock_guard lock(_mutex);
    auto it = _by_id.find(id);
    if (it == _by_id.end()) return;
    std::erase_if(_names, [&](const auto& kv) { return kv.second == id; });
    _cids.erase(it->second->record.vsock_cid);
    _by_id.erase(it);
}

uint32_t Registry::reserve_cid() {
    std::lock_guard lock(_mutex);
    // CIDs 0-2 are the hypervisor's, the loopback's and the host's; the
    // largest 32-bit value means "any".
    uint32_t cid = 3;
    for (uint32_t used : _cids) {
        if (used < cid) continue;
        if (used != cid) break;
        ++cid;
    }
    if (cid == UINT32_MAX) return 0;
    _cids.insert(cid);
    return cid;
}

void Registry::release_cid(uint32_t cid) {
    std::lock_guard lock(_mutex);
    _cids.erase(cid);
}

bool Registry::cid_free(uint32_t cid) const {
    std::lock_guard lock(_mutex);
    return cid >= 3 && cid != UINT32_MAX && !_cids.count(cid);
}

} // namespace brood::manager
