// Makes guest bytes safe to print on a terminal: a guest must not be able to
// move the cursor, retitle the window or reprogram the user's terminal.
#pragma once

#include <string>
#include <string_view>

namespace brood::cli {

// Keeps printable ASCII, "\n", "\r", "\t" and well-formed UTF-8 (except the
// C1 controls U+0080..U+009F); every other byte (ESC, other C0 controls, DEL,
// invalid UTF-8) is written as the four characters "\xNN". Feed it a stream
// in pieces: a UTF-8 sequence split between pieces is kept whole.
class TerminalEscaper final {
public:
    std::string feed(std::string_view data);
    // Escapes an incomplete sequence left at the end of the stream.
    std::string finish();

private:
    std::string _pending; // the start of a UTF-8 sequence cut by a piece boundary
};

// One whole text, escaped.
std::string escape_for_terminal(std::string_view data);

} // namespace brood::cli
