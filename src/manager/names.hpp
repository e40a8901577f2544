// Instance and template names and ids.
#pragma once

#include <string>
#include <string_view>

namespace brood::manager {

// Names are 1-63 characters of [a-z0-9-], starting and ending with a letter
// or digit (a DNS label), so they are safe in paths, URLs and hostnames.
bool valid_name(std::string_view name);
std::string name_rule();

// 16 random lower-case hex digits.
std::string new_id();
bool looks_like_id(std::string_view text);

} // namespace brood::manager
