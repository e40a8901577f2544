#include "cli/table.hpp"

#include <algorithm>

namespace brood::cli {

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) {
            if (widths.size() <= i) widths.push_back(0);
            widths[i] = std::max(widths[i], row[i].size());
        }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
        }
        out += line + "\n";
    }
    return out;
}

std::string instances_table(const nlohmann::json& instances) {
    std::vector<std::vector<std::string>> rows{{"ID", "NAME", "STATE", "MEMORY", "VCPUS", "PID", "CREATED"}};
    for (const auto& i : instances) {
        std::string state = i.value("state", "?");
        if (state == "Failed" && i.contains("failure_reason") && i["failure_reason"].is_string())
            state += " (" + i["failure_reason"].get<std::string>().substr(0, 40) + ")";
        rows.push_back({i.value("id", ""), i.value("name", ""), state,
                        std::to_string(i.value("memory_mib", 0)) + " MiB", std::to_string(i.value("vcpus", 0)),
                        i["pid"].is_number() ? std::to_string(i["pid"].get<int>()) : "-", i.value("created_at", "")});
    }
    return render_table(rows);
}

} // namespace brood::cli
