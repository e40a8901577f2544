// The CLI verbs for forks and templates: fork, template create|ls|inspect|rm|fork.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace brood::cli {

void add_fork_commands(CLI::App& app, Context& context);

} // namespace brood::cli
