#include "cli/fork_commands.hpp"

#include <cstdio>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/table.hpp"
#include "cli/terminal_text.hpp"

namespace brood::cli {

namespace {

using nlohmann::json;

struct ForkArgs {
    std::vector<std::string> positional; // [SOURCE] NAME, or NAME/PREFIX with --template
    std::string template_ref, name, prefix, target_state;
    int count = 0;
    int concurrency = 0;
    bool from_running = false;
    bool stream = false;
};

struct TemplateArgs {
    std::string ref, instance, name;
    std::vector<std::string> tags;
};

std::string templates_table(const json& templates) {
    std::vector<std::vector<std::string>> rows{{"ID", "NAME", "SOURCE", "FORKS", "MEMORY", "CREATED", "LAST USED"}};
    for (const auto& t : templates)
        rows.push_back({t.value("id", ""), t.value("name", ""), t.value("source_instance_id", ""),
                        std::to_string(t.value("fork_count", 0)), std::to_string(t.value("memory_mib", 0)) + " MiB",
                        t.value("created_at", ""), t.value("last_used_at", "")});
    return render_table(rows);
}

int call(Context& c, const std::string& method, const std::string& path, const json* body, Answer& a) {
    return ApiClient(c.socket, c.token).call(method, path, body, a);
}

// Prints an instance, a template or a list of templates.
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

// A template fork's answer, {"instances", "errors"}: the forks made, then one
// line per failed fork on stderr. Any failure makes the exit code non-zero.
int print_forks(Context& c, int code, const Answer& a) {
    if (!a.body.is_object() || !a.body.contains("instances")) return code;
    if (c.json_output)
        std::cout << a.body.dump(2) << "\n";
    else if (!a.body["instances"].empty())
        std::cout << instances_table(a.body["instances"]);
    int worst = kOk;
    for (const auto& e : a.body.value("errors", json::array())) {
        std::fprintf(stderr, "brood: fork %s failed: %s (%s)\n", e.value("name", "?").c_str(),
                     e.value("message", "").c_str(), e.value("code", "").c_str());
        if (worst == kOk) worst = exit_code_for_status(e.value("status", 500));
    }
    return code != kOk ? code : worst;
}

json template_fork_body(const ForkArgs& f, const std::string& name_or_prefix) {
    json body = json::object();
    if (f.count > 0) {
        body["name_prefix"] = name_or_prefix;
        body["count"] = f.count;
    } else {
        body["name"] = name_or_prefix;
    }
    if (!f.target_state.empty()) body["target_state"] = f.target_state;
    if (f.concurrency > 0) body["concurrency"] = f.concurrency;
    return body;
}

// A field of a streamed line, whatever broodd sent: never throws. Text is
// escaped for the terminal.
std::string text_or(const json& j, const char* key, const char* fallback) {
    auto it = j.find(key);
    return escape_for_terminal(it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : fallback);
}
double number_or(const json& j, const char* key, double fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}
// A count or a status: an integer that fits, else `fallback`.
int int_or(const json& j, const char* key, int fallback) {
    double v = number_or(j, key, fallback);
    return v >= -1e9 && v <= 1e9 ? static_cast<int>(v) : fallback;
}

// One line of a streamed fan-out (an object with a string "event"),
// printed; `worst` and `done` follow the failures and the totals line.
void print_fork_line(Context& c, const json& line, int& worst, bool& done) {
    const std::string& event = line["event"].get_ref<const std::string&>();
    if (c.json_output) std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
    done = done || event == "done";
    const json* inst = line.contains("instance") && line["instance"].is_object() ? &line["instance"] : nullptr;
    if (event == "fork" && inst && !c.json_output) {
        std::printf("%-24s %s %-8s %8.1f ms\n", text_or(*inst, "name", "?").c_str(),
                    text_or(*inst, "id", "?").c_str(), text_or(*inst, "state", "?").c_str(),
                    number_or(line, "elapsed_ms", 0.0));
        std::fflush(stdout);
    } else if (event == "error" || (event == "done" && line.contains("code"))) {
        std::string what = event == "error" ? "fork " + text_or(line, "name", "?") + " failed: " : "";
        std::fprintf(stderr, "brood: %s%s (%s)\n", what.c_str(), text_or(line, "message", "").c_str(),
                     text_or(line, "code", "").c_str());
        if (worst == kOk) worst = exit_code_for_status(int_or(line, "status", 500));
    } else if (event == "done" && !c.json_output) {
        std::printf("%d made, %d failed in %.1f ms\n", int_or(line, "made", 0),
                    int_or(line, "failed", 0), number_or(line, "elapsed_ms", 0.0));
    }
}

// --stream: one line per fork as soon as it is made ("NAME ID STATE MS",
// or the answer's own lines with --json), failures on stderr, then the totals.
int template_fork_streaming(Context& c, const ForkArgs& f, const json& body) {
    int worst = kOk;
    bool done = false;
    int code = ApiClient(c.socket, c.token).fork_template_lines(
        f.template_ref, body, [&](const json& line) { print_fork_line(c, line, worst, done); });
    if (code == kOk && !done) {
        std::fprintf(stderr, "brood: the answer ended before its totals: some forks may not be listed\n");
        return kInternal;
    }
    return code != kOk ? code : worst;
}

int template_fork(Context& c, const ForkArgs& f, const std::string& name_or_prefix) {
    json body = template_fork_body(f, name_or_prefix);
    if (f.stream) return template_fork_streaming(c, f, body);
    Answer a;
    int code = call(c, "POST", "/templates/" + f.template_ref + "/fork", &body, a);
    return print_forks(c, code, a);
}

int instance_fork(Context& c, const ForkArgs& f) {
    json body{{"name", f.positional.at(1)}};
    if (!f.target_state.empty()) body["target_state"] = f.target_state;
    if (f.from_running) body["from_running"] = true;
    Answer a;
    return print(c, call(c, "POST", "/instances/" + f.positional.at(0) + "/fork", &body, a), a, false);
}

void add_fork_options(CLI::App* cmd, ForkArgs& f) {
    cmd->add_option("--target-state", f.target_state, "Running, Standby or Stopped (default: see brood fork --help)");
    cmd->add_option("--concurrency", f.concurrency, "template forks made at once (default: the daemon's)")
        ->check(CLI::Range(1, 64));
    cmd->add_flag("--stream", f.stream, "template forks: print each fork as soon as it runs, with its time");
}

} // namespace

void add_fork_commands(CLI::App& app, Context& c) {
    auto f = std::make_shared<ForkArgs>();
    auto* fork = app.add_subcommand(
        "fork", "fork an instance (SOURCE NAME: a copy of its directory; target state defaults to the source's), or a "
                "template (--template T NAME, or --template T PREFIX --count N: forks sharing its memory, Running)");
    fork->add_option("args", f->positional, "SOURCE NAME, or NAME (PREFIX with --count) with --template")
        ->required()
        ->expected(1, 2);
    fork->add_option("--template", f->template_ref, "fork this template (id or name) instead of an instance");
    fork->add_option("--count,-n", f->count, "with --template: make N forks named PREFIX-1..PREFIX-N")
        ->check(CLI::Range(1, 1000));
    fork->add_flag("--from-running", f->from_running, "a Running source is put in standby, forked and restored");
    add_fork_options(fork, *f);
    fork->callback([&c, f] {
        bool by_template = !f->template_ref.empty();
        if (by_template != (f->positional.size() == 1) ||
            (!by_template && (f->count > 0 || f->concurrency > 0 || f->stream)) ||
            (by_template && f->from_running)) {
            std::fprintf(stderr, "brood fork: use SOURCE NAME [--from-running], or --template T NAME, or "
                                 "--template T PREFIX --count N\n");
            c.result = kUsage;
            return;
        }
        c.result = by_template ? template_fork(c, *f, f->positional.at(0)) : instance_fork(c, *f);
    });

    auto* tmpl = app.add_subcommand("template", "templates: Standby instances whose memory forks share");
    tmpl->require_subcommand(1);
    auto t = std::make_shared<TemplateArgs>();
    auto* promote = tmpl->add_subcommand("promote", "promote a Standby instance to a template");
    promote->alias("create");
    promote->add_option("instance", t->instance, "source instance id or name")->required();
    promote->add_option("name", t->name, "template name")->required();
    promote->add_option("--tag", t->tags, "KEY=VALUE (repeatable)");
    promote->callback([&c, t] {
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
    auto* rm = tmpl->add_subcommand("rm", "delete a template (refused while it has live forks); its source stays");
    rm->add_option("template", t->ref, "id or name")->required();
    rm->callback([&c, t] {
        Answer a;
        c.result = call(c, "DELETE", "/templates/" + t->ref, nullptr, a);
        if (c.result == kOk && !c.json_output) std::cout << t->ref << "\n";
    });
    auto tf = std::make_shared<ForkArgs>();
    auto* tfork = tmpl->add_subcommand("fork", "fork instances that share the template's memory file");
    tfork->add_option("template", tf->template_ref, "id or name")->required();
    tfork->add_option("name", tf->name, "name of a single fork");
    tfork->add_option("--prefix", tf->prefix, "fork COUNT instances named PREFIX-1..PREFIX-COUNT");
    tfork->add_option("--count,-n", tf->count, "how many forks with --prefix")->check(CLI::Range(1, 1000));
    add_fork_options(tfork, *tf);
    tfork->callback([&c, tf] {
        if (tf->name.empty() == tf->prefix.empty() || tf->prefix.empty() != (tf->count == 0)) {
            std::fprintf(stderr, "brood template fork: give NAME, or --prefix P --count N\n");
            c.result = kUsage;
            return;
        }
        c.result = template_fork(c, *tf, tf->prefix.empty() ? tf->name : tf->prefix);
    });
}

} // namespace brood::cli
