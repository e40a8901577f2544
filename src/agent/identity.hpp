// Fresh identity for a cloned guest: the host's random bytes go into the
// kernel's pool, and the kernel's CRNG reseeds from it at once.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood::agent {

// RNDADDENTROPY (crediting 8 bits a byte) then RNDRESEEDCRNG on
// `random_device` (/dev/random). Needs CAP_SYS_ADMIN.
[[nodiscard]] Result<void> add_entropy_and_reseed(std::string_view bytes,
                                                  const std::string& random_device = "/dev/random");

} // namespace brood::agent
