#include "linux_guest.hpp"

#include <sstream>

namespace brood::test {

std::map<std::string, IrqLine> parse_interrupts(const std::string& text) {
    std::map<std::string, IrqLine> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::istringstream words(line);
        std::string irq;
        if (!(words >> irq) || irq.empty() || irq.back() != ':') continue;
        IrqLine parsed;
        std::string word;
        bool counting = true;
        while (words >> word) {
            if (counting && word.find_first_not_of("0123456789") == std::string::npos) {
                parsed.count += std::stoull(word);
                continue;
            }
            counting = false;
            if (!parsed.description.empty()) parsed.description += ' ';
            parsed.description += word;
        }
        if (parsed.description.empty()) continue;
        const auto last = parsed.description.rfind(' ');
        lines[last == std::string::npos ? parsed.description : parsed.description.substr(last + 1)] = parsed;
    }
    return lines;
}

Result<std::map<std::string, IrqLine>> read_interrupts(VmProcess& vm) {
    // The marker is computed by the shell, so the echoed command line does not match it.
    auto out = TRY(vm.command("cat /proc/interrupts; echo irqs-$((20+1))-done", "irqs-21-done", Millis(30'000)));
    (void)out;
    const std::string all = vm.all_output();
    const auto end = all.rfind("irqs-21-done");
    const auto begin = all.rfind("cat /proc/interrupts", end);
    if (begin == std::string::npos) return fail("no /proc/interrupts output in the serial log");
    return parse_interrupts(all.substr(begin, end - begin));
}

Result<std::string> shell_value(VmProcess& vm, const std::string& tag, const std::string& expr, Millis timeout) {
    // "<tag>-42=" only appears in the answer: the echoed command has "<tag>-$((40+2))=".
    const std::string marker = tag + "-42=";
    auto line = TRY(vm.command("echo " + tag + "-$((40+2))=$(" + expr + ")", marker, timeout));
    return line.substr(line.find(marker) + marker.size());
}

} // namespace brood::test
