import Foundation
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// Where `rlm` writes for people. Every message on stderr goes through ``TerminalText/inert(_:)``, whatever it
/// quotes (a reply, code, REPL output, a file name, a server's error). The answer on stdout stays byte-exact in a
/// file or a pipe, and is made inert the same way when stdout is a terminal, as `ls` does with file names.
enum Terminal {
    /// stdout is a terminal: the answer is escaped there.
    static let outputIsTerminal = isatty(STDOUT_FILENO) == 1

    /// One line on stderr, control characters made inert.
    static func error(_ line: String) {
        writeError(line + "\n")
    }

    /// Text on stderr as it comes (a piece of a streamed reply, a prompt), control characters made inert.
    static func writeError(_ text: String) {
        writeControl(TerminalText.inert(text))
    }

    /// `rlm`'s own escape sequences (the status line), written as they are. Never pass text from elsewhere.
    static func writeControl(_ sequence: String) {
        // A closed stderr must not crash the run: the write just fails.
        try? FileHandle.standardError.write(contentsOf: Data(sequence.utf8))
    }

    /// One line on stdout: byte-exact to a file or pipe, made inert on a terminal.
    static func output(_ line: String) {
        print(outputIsTerminal ? TerminalText.inert(line) : line)
    }
}
