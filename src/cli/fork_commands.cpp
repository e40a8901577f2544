#include "cli/fork_commands.hpp"

#include <iostream>

#include "cli/api_client.hpp"
#include "cli/table.hpp"

namespace brood::cli {

namespace {

using nlohmann::json;

struct ForkArgs {
    std::string source, name, prefix, target_state = "Running";
    int count = 0;
    bool from_running = false;
};

struct TemplateArgs {
    std::string ref, instance, name;
    std::vector<std::string> tags;
};

std::string templates_table(const json& templates) {
    std::vector<std::vector<std::string>> rows{{"ID", "NAME", "SOURCE", "FORKS", "MEMORY", "CREATED"}};
    for (const auto& t : templates)
        rows.push_back({t.value("id", ""), t.value("name", ""), t.value("source_instance_id", ""),
                        std::to_string(t.value("fork_count", 0)), std::to_string(t.value("memory_mib", 0)) + " MiB",
                        t.value("created_at", "")});
    return render_table(rows);
}

int call(Context& c, const std::string& method, const std::string& path, const json* body, Answer& a) {
    return ApiClient(c.socket, c.token).call(method, path, body, a);
}

// Prints an instance, a list of instances, a template or a list of templates.
int print(Context& c, int code, const Answer& a, bool is_template) {
    if (code != kOk) return code;
    if (c.json_output) {
        std::cout << a.body.dump(2) << "\n";
        return kOk;
    }
    json list = a.body.is_array() ? a.body : json::array({a.body});
    std::cout << (is_template ? templates_table(list) : instances_table(list));
    return kOk;
}

} // namespace

void add_fork_commands(CLI::App& app, Context& c) {
    auto f = std::make_shared<ForkArgs>();
    auto* fork = app.add_subcommand("fork", "fork a Standby instance (copy of its directory) into a new instance");
    fork->add_option("instance", f->source, "source id or name")->required();
    fork->add_option("name", f->name, "name of the fork")->required();
    fork->add_option("--target-state", f->target_state, "Running or Standby")->capture_default_str();
    fork->add_flag("--from-running", f->from_running, "source may be Running: standby, fork, restore it");
    fork->callback([&c, f] {
        json body{{"name", f->name}, {"target_state", f->target_state}, {"from_running", f->from_running}};
        Answer a;
        c.result = print(c, call(c, "POST", "/instances/" + f->source + "/fork", &body, a), a, false);
    });

    auto* tmpl = app.add_subcommand("template", "templates: Standby instances whose memory forks share");
    tmpl->require_subcommand(1);
    auto t = std::make_shared<TemplateArgs>();
    auto* create = tmpl->add_subcommand("create", "promote a Standby instance to a template");
    create->add_option("instance", t->instance, "source instance id or name")->required();
    create->add_option("name", t->name, "template name")->required();
    create->add_option("--tag", t->tags, "KEY=VALUE (repeatable)");
    create->callback([&c, t] {
        json body{{"instance", t->instance}, {"name", t->name}, {"tags", json::object()}};
        for (const auto& tag : t->tags) {
            size_t eq = tag.find('=');
            body["tags"][tag.substr(0, eq)] = eq == std::string::npos ? "" : tag.substr(eq + 1);
        }
        Answer a;
        c.result = print(c, call(c, "POST", "/templates", &body, a), a, true);
    });
    tmpl->add_subcommand("ls", "list templates")->callback([&c] {
        Answer a;
        c.result = print(c, call(c, "GET", "/templates", nullptr, a), a, true);
    });
    auto* inspect = tmpl->add_subcommand("inspect", "show a template as JSON");
    inspect->add_option("template", t->ref, "id or name")->required();
    inspect->callback([&c, t] {
        Answer a;
        c.result = call(c, "GET", "/templates/" + t->ref, nullptr, a);
        if (c.result == kOk) std::cout << a.body.dump(2) << "\n";
    });
    auto* rm = tmpl->add_subcommand("rm", "delete a template (refused while it has live forks)");
    rm->add_option("template", t->ref, "id or name")->required();
    rm->callback([&c, t] {
        Answer a;
        c.result = call(c, "DELETE", "/templates/" + t->ref, nullptr, a);
    });
    auto tf = std::make_shared<ForkArgs>();
    auto* tfork = tmpl->add_subcommand("fork", "fork instances that share the template's memory file");
    tfork->add_option("template", tf->source, "id or name")->required();
    tfork->add_option("name", tf->name, "name of a single fork");
    tfork->add_option("--prefix", tf->prefix, "fork COUNT instances named PREFIX-1..PREFIX-COUNT");
    tfork->add_option("--count,-n", tf->count, "how many forks with --prefix");
    tfork->add_option("--target-state", tf->target_state, "Running or Standby")->capture_default_str();
    tfork->callback([&c, tf] {
        json body{{"target_state", tf->target_state}};
        if (!tf->prefix.empty()) {
            body["name_prefix"] = tf->prefix;
            body["count"] = tf->count;
        } else {
            body["name"] = tf->name;
        }
        Answer a;
        c.result = print(c, call(c, "POST", "/templates/" + tf->source + "/fork", &body, a), a, false);
    });
}

} // namespace brood::cli
