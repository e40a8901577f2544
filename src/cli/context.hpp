// What every verb of the CLI shares: where broodd is, and how to print.
#pragma once

#include <string>

namespace brood::cli {

struct Context {
    std::string socket;
    std::string token;
    bool json_output = false;
    int result = 0; // the exit code of the verb that ran
};

} // namespace brood::cli
