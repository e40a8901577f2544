// brood-vmm command lines for an instance (docs/interfaces.md).
#pragma once

#include <string>
#include <vector>

#include "manager/instance_record.hpp"
#include "manager/layout.hpp"

namespace brood::manager {

std::vector<std::string> boot_args(const Layout& layout, const InstanceRecord& record);
std::vector<std::string> restore_args(const Layout& layout, const InstanceRecord& record,
                                      Backend backend);

} // namespace brood::manager
