// The instances the daemon knows, by id and by unique name.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "manager/instance.hpp"
#include "manager/op_error.hpp"

namespace brood::manager {

class Registry final {
public:
    // By id first, then by name; nullptr when unknown.
    std::shared_ptr<Instance> find(const std::string& id_or_name) const;
    std::vector<std::shared_ptr<Instance>> all() const;

    // Holds a name for an instance being created; 409 name_taken if in use.
    [[nodiscard]] OpResult<void> reserve_name(const std::string& name);
    void release_name(const std::string& name);
    // Adds an instance whose name was reserved (or is free, at load time).
    void insert(std::shared_ptr<Instance> instance);
    void erase(const std::string& id);

    // vsock CIDs: the lowest free one (from 3) is held for a new instance
    // until insert() or release_cid(); 0 when none is left.
    uint32_t reserve_cid();
    void release_cid(uint32_t cid);
    // Whether a loaded record's CID may be kept: set, and no other holds it.
    bool cid_free(uint32_t cid) const;

private:
    mutable std::mutex _mutex;
    std::set<uint32_t> _cids; // held by an instance or reserved
    std::map<std::string, std::shared_ptr<Instance>> _by_id;
    std::map<std::string, std::string> _names; // name -> id ("" while reserved)
};

} // namespace brood::manager
