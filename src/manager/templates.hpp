// The template registry: records on disk, unique names, live fork counts.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "manager/layout.hpp"
#include "manager/op_error.hpp"
#include "manager/template_record.hpp"

namespace brood::manager {

class Templates final {
public:
    explicit Templates(const Layout& layout) : _layout(layout) {}

    // Loads templates/*/template.json; removes directories without one.
    [[nodiscard]] Result<void> load();
    // Sets every fork_count to the number of instances that name the
    // template (`live` maps template id to count) and saves what changed.
    void recount(const std::map<std::string, uint64_t>& live);

    std::optional<TemplateRecord> find(const std::string& id_or_name) const;
    std::optional<TemplateRecord> find_by_source(const std::string& instance_id) const;
    std::vector<TemplateRecord> all() const;

    // Writes templates/<id>/template.json; 409 name_taken for a used name.
    [[nodiscard]] OpResult<TemplateRecord> create(TemplateRecord record);
    // 409 in_use (naming the count) while forks are live.
    [[nodiscard]] OpResult<void> remove(const std::string& id);
    // Removes the template whose source is `instance_id`, if any, whatever
    // its count (the caller deletes that source and checked the count).
    [[nodiscard]] OpResult<void> remove_of_source(const std::string& instance_id);
    // At daemon start: removes templates whose source instance is gone (a
    // source delete that crashed before it removed its template). Returns
    // how many.
    int drop_without_source(const std::function<bool(const std::string&)>& instance_exists);
    // Adds `delta` to the fork count (and stamps last_used_at on a new fork).
    [[nodiscard]] OpResult<void> add_forks(const std::string& id, int64_t delta);

private:
    Result<void> erase_locked(std::map<std::string, TemplateRecord>::iterator it);

    const Layout& _layout;
    mutable std::mutex _mutex;
    std::map<std::string, TemplateRecord> _by_id;
};

} // namespace brood::manager
