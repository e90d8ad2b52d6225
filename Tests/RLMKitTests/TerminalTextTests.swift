import Testing
import RLMKit

/// The one function that makes text safe for a terminal; every face of `rlm` writes through it.
@Suite struct TerminalTextTests {
    @Test func escapeSequencesBecomeVisibleText() {
        let title = "\u{1B}]0;pwned\u{07}"
        let clipboard = "\u{1B}]52;c;ZWNobyBoaQ==\u{07}"
        #expect(TerminalText.inert(title) == "^[]0;pwned^G")
        #expect(TerminalText.inert(clipboard) == "^[]52;c;ZWNobyBoaQ==^G")
        #expect(TerminalText.inert("\u{1B}[2J\u{1B}[H") == "^[[2J^[[H")
        #expect(TerminalText.inert("a\u{00}b\u{7F}c\u{08}") == "a^@b^?c^H")
    }

    @Test func c1ControlsAmongThemTheOneByteCSIAreEscaped() {
        #expect(TerminalText.inert("x\u{9B}31mred") == "x<U+009B>31mred")
        #expect(TerminalText.inert("\u{80}\u{9D}\u{9F}") == "<U+0080><U+009D><U+009F>")
        // Just past C1: ordinary text.
        #expect(TerminalText.inert("\u{A0}é→😀") == "\u{A0}é→😀")
    }

    @Test func newlinesTabsAndWindowsLineEndsAreKept() {
        #expect(TerminalText.inert("a\tb\nc") == "a\tb\nc")
        #expect(TerminalText.inert("one\r\ntwo\r\n") == "one\r\ntwo\r\n")
        // A lone CR would let text overwrite the start of its line.
        #expect(TerminalText.inert("safe\rEVIL") == "safe^MEVIL")
        #expect(TerminalText.inert("end\r") == "end^M")
    }

    @Test func textWithoutControlsIsReturnedUnchanged() {
        let text = "plain text, ünïcode, 中文, tabs\tand\nlines"
        #expect(TerminalText.inert(text) == text)
        #expect(TerminalText.inert("") == "")
    }

    @Test func theResultHoldsNoControlCharacterButNewlineAndTab() {
        let every = String(String.UnicodeScalarView((0..<0xA0).compactMap(Unicode.Scalar.init)))
        let safe = TerminalText.inert(every)
        let left = safe.unicodeScalars.filter { $0.value < 0x20 || (0x7F..<0xA0).contains($0.value) }
        #expect(left.map(\.value) == [0x09, 0x0A])
    }
}
