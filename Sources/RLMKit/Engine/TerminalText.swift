/// Text made safe to show on a terminal: control characters are written out visibly instead of being obeyed.
///
/// A model's reply, the code it writes, what that code prints, a file name or a server's error message may hold
/// escape sequences that retitle the window, write the clipboard (OSC 52), move the cursor or hide text. Like git
/// and less, every control character except newline and tab is shown as what it is:
/// - C0 controls and DEL in caret notation: ESC → `^[`, BEL → `^G`, a lone CR → `^M`, DEL → `^?`;
///   CR directly before LF (a Windows line end) is kept;
/// - C1 controls (U+0080–U+009F, among them the one-byte CSI U+009B) as less shows them: `<U+009B>`.
public enum TerminalText {
    /// `text` with every control character but `\n` and `\t` (and the CR of a CRLF) escaped visibly.
    public static func inert(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.contains(where: needsEscape) else { return text }
        var result = String.UnicodeScalarView()
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let next = scalars.index(after: index)
            defer { index = next }
            guard needsEscape(scalar) else {
                result.append(scalar)
                continue
            }
            if scalar == "\r", next < scalars.endIndex, scalars[next] == "\n" {
                result.append(scalar)
            } else {
                result.append(contentsOf: escaped(scalar).unicodeScalars)
            }
        }
        return String(result)
    }

    /// True for the scalars ``inert(_:)`` rewrites (and for the CR of a CRLF, which it keeps).
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: false
        case 0x00..<0x20, 0x7F, 0x80..<0xA0: true
        default: false
        }
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x7F: "^?"
        case 0x00..<0x20: "^" + String(Character(Unicode.Scalar(UInt8(scalar.value) + 0x40)))
        default: "<U+00" + String(scalar.value, radix: 16, uppercase: true) + ">"
        }
    }
}
