#include "cli/terminal_text.hpp"

namespace brood::cli {

namespace {

void append_hex(std::string& out, unsigned char byte) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out += "\\x";
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
}

// Length of the UTF-8 sequence starting with `lead` (0: not a lead byte),
// and the allowed range of its second byte.
size_t sequence_length(unsigned char lead, unsigned char& lo, unsigned char& hi) {
    lo = 0x80;
    hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) return 2;
    if (lead >= 0xe0 && lead <= 0xef) {
        if (lead == 0xe0) lo = 0xa0;
        if (lead == 0xed) hi = 0x9f; // no UTF-16 surrogates
        return 3;
    }
    if (lead >= 0xf0 && lead <= 0xf4) {
        if (lead == 0xf0) lo = 0x90;
        if (lead == 0xf4) hi = 0x8f;
        return 4;
    }
    return 0;
}

enum class Check { valid, invalid, incomplete };

Check check_sequence(std::string_view s, size_t length, unsigned char lo, unsigned char hi) {
    for (size_t i = 1; i < length; ++i) {
        if (i >= s.size()) return Check::incomplete;
        auto b = static_cast<unsigned char>(s[i]);
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return Check::invalid;
    }
    return Check::valid;
}

} // namespace

std::string TerminalEscaper::feed(std::string_view data) {
    std::string text = std::move(_pending);
    _pending.clear();
    text.append(data);
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        auto b = static_cast<unsigned char>(text[i]);
        if ((b >= 0x20 && b < 0x7f) || b == '\n' || b == '\r' || b == '\t') {
            out += static_cast<char>(b);
            ++i;
            continue;
        }
        unsigned char lo = 0, hi = 0;
        size_t length = sequence_length(b, lo, hi);
        Check check = length == 0 ? Check::invalid : check_sequence(std::string_view(text).substr(i), length, lo, hi);
        if (check == Check::incomplete) {
            _pending = text.substr(i);
            break;
        }
        // U+0080..U+009F are encoded C2 80..C2 9F: terminal controls too.
        bool c1 = length == 2 && b == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
        if (check == Check::valid && !c1) {
            out.append(text, i, length);
            i += length;
        } else {
            append_hex(out, b);
            ++i;
        }
    }
    return out;
}

std::string TerminalEscaper::finish() {
    std::string out;
    for (char c : _pending) append_hex(out, static_cast<unsigned char>(c));
    _pending.clear();
    return out;
}

std::string escape_for_terminal(std::string_view data) {
    TerminalEscaper escaper;
    std::string out = escaper.feed(data);
    out += escaper.finish();
    return out;
}

} // namespace brood::cli
