#include "manager/templates.hpp"

#include <unistd.h>

#include <filesystem>

#include "manager/atomic_file.hpp"
#include "manager/instance_record.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

Result<void> Templates::load() {
    std::error_code ec;
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(_layout.templates_dir(), ec)) dirs.push_back(entry.path());
    if (ec) return fail("list " + _layout.templates_dir() + ": " + ec.message());
    std::lock_guard lock(_mutex);
    for (const auto& dir : dirs) {
        std::string id = dir.filename().string();
        auto record = load_template(_layout.template_record(id));
        if (!record) {
            if (!fs::exists(_layout.template_record(id))) fs::remove_all(dir, ec); // half-created or half-deleted
            continue;
        }
        _by_id[record->id] = *record;
    }
    return {};
}

void Templates::recount(const std::map<std::string, uint64_t>& live) {
    std::lock_guard lock(_mutex);
    for (auto& [id, record] : _by_id) {
        auto it = live.find(id);
        uint64_t count = it == live.end() ? 0 : it->second;
        if (record.fork_count == count) continue;
        record.fork_count = count;
        (void)save_template(_layout.template_record(id), record);
    }
}

std::optional<TemplateRecord> Templates::find(const std::string& id_or_name) const {
    std::lock_guard lock(_mutex);
    if (auto it = _by_id.find(id_or_name); it != _by_id.end()) return it->second;
    for (const auto& [id, record] : _by_id)
        if (record.name == id_or_name) return record;
    return std::nullopt;
}

std::optional<TemplateRecord> Templates::find_by_source(const std::string& instance_id) const {
    std::lock_guard lock(_mutex);
    for (const auto& [id, record] : _by_id)
        if (record.source_instance_id == instance_id) return record;
    return std::nullopt;
}

std::vector<TemplateRecord> Templates::all() const {
    std::lock_guard lock(_mutex);
    std::vector<TemplateRecord> out;
    for (const auto& [id, record] : _by_id) out.push_back(record);
    return out;
}

OpResult<TemplateRecord> Templates::create(TemplateRecord record) {
    std::lock_guard lock(_mutex);
    for (const auto& [id, existing] : _by_id) {
        if (existing.name == record.name) return name_taken("template name \"" + record.name + "\" is already taken");
        if (existing.source_instance_id == record.source_instance_id)
            return in_use("instance " + record.source_instance_id + " is already the source of template " +
                          existing.name);
    }
    std::error_code ec;
    fs::create_directories(_layout.template_dir(record.id), ec);
    if (ec) return internal("create " + _layout.template_dir(record.id) + ": " + ec.message());
    auto saved = save_template(_layout.template_record(record.id), record);
    if (!saved) {
        fs::remove_all(_layout.template_dir(record.id), ec);
        return fail(saved.error());
    }
    _by_id[record.id] = record;
    return record;
}

OpResult<void> Templates::remove(const std::string& id) {
    std::lock_guard lock(_mutex);
    auto it = _by_id.find(id);
    if (it == _by_id.end()) return not_found("no template \"" + id + "\"");
    uint64_t forks = it->second.fork_count;
    if (forks > 0)
        return in_use("template " + it->second.name + " is in use by " + std::to_string(forks) +
                      (forks == 1 ? " live fork" : " live forks") + "; delete them first");
    TRY(erase_locked(it));
    return {};
}

Result<void> Templates::erase_locked(std::map<std::string, TemplateRecord>::iterator it) {
    // Drop the record first: a crash after it leaves a directory load() removes.
    std::string dir = _layout.template_dir(it->first);
    if (::unlink(_layout.template_record(it->first).c_str()) != 0 && errno != ENOENT)
        return fail(Error::from_errno("remove template record"));
    (void)fsync_dir(dir);
    std::error_code ec;
    fs::remove_all(dir, ec);
    _by_id.erase(it);
    return {};
}

OpResult<void> Templates::remove_of_source(const std::string& instance_id) {
    std::lock_guard lock(_mutex);
    for (auto it = _by_id.begin(); it != _by_id.end(); ++it)
        if (it->second.source_instance_id == instance_id) {
            TRY(erase_locked(it));
            return {};
        }
    return {};
}

int Templates::drop_without_source(const std::function<bool(const std::string&)>& instance_exists) {
    std::lock_guard lock(_mutex);
    int dropped = 0;
    for (auto it = _by_id.begin(); it != _by_id.end();) {
        auto next = std::next(it);
        if (!instance_exists(it->second.source_instance_id) && erase_locked(it)) ++dropped;
        it = next;
    }
    return dropped;
}

OpResult<void> Templates::add_forks(const std::string& id, int64_t delta) {
    std::lock_guard lock(_mutex);
    auto it = _by_id.find(id);
    if (it == _by_id.end()) return not_found("template " + id + " is gone");
    TemplateRecord next = it->second;
    if (delta < 0 && next.fork_count < static_cast<uint64_t>(-delta))
        next.fork_count = 0;
    else
        next.fork_count = static_cast<uint64_t>(static_cast<int64_t>(next.fork_count) + delta);
    if (delta > 0) next.last_used_at = now_rfc3339();
    TRY(save_template(_layout.template_record(id), next));
    it->second = next;
    return {};
}

} // namespace brood::manager
