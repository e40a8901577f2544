// `brood exec` and `brood cp`: commands and files through the guest agent.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace brood::cli {

void add_agent_commands(CLI::App& app, Context& context);

} // namespace brood::cli
