#include <gtest/gtest.h>

#include "cli/terminal_text.hpp"

using brood::cli::escape_for_terminal;
using brood::cli::TerminalEscaper;

TEST(TerminalText, KeepsTextAndEscapesControls) {
    EXPECT_EQ(escape_for_terminal("login: root\r\n\tok"), "login: root\r\n\tok");
    EXPECT_EQ(escape_for_terminal("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
    // ESC sequences: clear screen, set the window title, a bell, DEL.
    EXPECT_EQ(escape_for_terminal("\x1b[2J\x1b]0;pwned\x07\x7f"), "\\x1b[2J\\x1b]0;pwned\\x07\\x7f");
    // C1 controls (CSI as U+009B) and invalid UTF-8.
    EXPECT_EQ(escape_for_terminal("\xc2\x9b" "31m"), "\\xc2\\x9b31m");
    EXPECT_EQ(escape_for_terminal("a\xff\xfe" "b\xc0\xaf\xed\xa0\x80"), "a\\xff\\xfeb\\xc0\\xaf\\xed\\xa0\\x80");
}

TEST(TerminalText, SequencesSplitAcrossPiecesStayWhole) {
    TerminalEscaper e;
    std::string out = e.feed("x\xe2\x9c");
    out += e.feed("\x93y\xe2");
    out += e.finish();
    EXPECT_EQ(out, "x\xe2\x9c\x93y\\xe2");
}
