import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What a model, its code or a server sends never drives the user's terminal: `rlm ask` run on a real
/// pseudo-terminal shows escape sequences as text, while the answer sent to a pipe stays byte for byte.
@Suite(.serialized) struct TerminalSafetyTests {
    static let title = "\u{1B}]0;pwned-title\u{07}"
    static let clipboard = "\u{1B}]52;c;ZWNobyBwd25lZA==\u{07}"
    /// The one-byte CSI (U+009B), which some terminals obey like ESC [.
    static let c1 = "\u{9B}31m"
    static let context = "report start \(title) middle \(clipboard) red \(c1) end"

    /// Runs `rlm` on a pseudo-terminal (stdin, stdout and stderr all on it) and returns all it wrote there.
    static func runOnTerminal(_ arguments: [String], environment: [String: String]) async throws -> CLI.Run {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pty_run.py").path
        let result = try await Subprocess.run(
            .name("python3"), arguments: Arguments([script, CLI.binary] + arguments),
            environment: .custom(CLI.environment(environment)),
            input: .none, output: .string(limit: 16 << 20), error: .string(limit: 1 << 20))
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        return CLI.Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }

    /// A root model that echoes the attack in its reply, prints the context from code, and answers with it.
    static func echoingModel() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model"]) { request in
            switch request.assistantTurns {
            case 0:
                return SimulatedReply(text: "Reading it \(title)\n" + replBlock("print(context)\nprint('code says \\x1b]0;from-code\\x07')"))
            default:
                return SimulatedReply(text: replBlock("FINAL(context)"))
            }
        }
    }

    /// `rlm`'s own status line is the only escape sequence allowed on the terminal.
    static func withoutOwnStatusLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{1B}[K", with: "").replacingOccurrences(of: "\u{1B}[2m", with: "")
            .replacingOccurrences(of: "\u{1B}[0m", with: "")
    }

    @Test(.timeLimit(.minutes(2)))
    func verboseRunOnATerminalShowsEscapeSequencesAsText() async throws {
        let file = try TemporaryFile(named: "hostile.txt", contents: Self.context)
        let server = try await Self.echoingModel()
        defer { Task { await server.shutdown() } }
        let run = try await Self.runOnTerminal(["ask", "What does it say?", "--context", file.path, "--verbose", "--no-log"],
                                               environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "terminal: \(run.stdout)\nstderr: \(run.stderr)")
        let screen = Self.withoutOwnStatusLine(run.stdout)
        #expect(!screen.unicodeScalars.contains("\u{1B}"), "a raw ESC reached the terminal: \(screen.debugDescription)")
        #expect(!screen.unicodeScalars.contains("\u{07}"), "a raw BEL reached the terminal")
        #expect(!screen.unicodeScalars.contains("\u{9B}"), "a raw C1 CSI reached the terminal")
        // Shown, not obeyed: in the streamed reply, the code's output (--verbose) and the answer on stdout.
        #expect(screen.components(separatedBy: "^[]0;pwned-title^G").count - 1 >= 3, "\(screen)")
        #expect(screen.contains("^[]52;c;ZWNobyBwd25lZA==^G"))
        #expect(screen.contains("<U+009B>31m"))
        #expect(screen.contains("code says ^[]0;from-code^G"))
    }

    @Test(.timeLimit(.minutes(2)))
    func answerThroughAPipeIsByteExactAndStderrIsEscaped() async throws {
        let file = try TemporaryFile(named: "hostile.txt", contents: Self.context)
        let server = try await Self.echoingModel()
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["ask", "What does it say?", "--context", file.path, "--verbose", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == Self.context + "\n", "the answer was changed: \(run.stdout.debugDescription)")
        // --verbose writes the code's output to stderr even off a terminal; it may be a terminal all the same.
        #expect(!run.stderr.unicodeScalars.contains("\u{1B}"), "\(run.stderr.debugDescription)")
        #expect(run.stderr.contains("^[]52;c;ZWNobyBwd25lZA==^G"), "\(run.stderr)")
    }

    @Test(.timeLimit(.minutes(2)))
    func aServersErrorMessageIsShownAsText() async throws {
        let file = try TemporaryFile(named: "plain.txt", contents: "nothing to see")
        let server = try await ModelSimulator.start(models: ["root-model"]) { _ in
            .failure(status: 400, message: "bad request \(Self.title)\(Self.clipboard)")
        }
        defer { Task { await server.shutdown() } }
        let run = try await Self.runOnTerminal(["ask", "q", "--context", file.path, "--no-log"],
                                               environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode != 0)
        let screen = Self.withoutOwnStatusLine(run.stdout)
        #expect(screen.contains("bad request ^[]0;pwned-title^G"), "\(screen)")
        #expect(!screen.unicodeScalars.contains("\u{1B}") && !screen.unicodeScalars.contains("\u{07}"), "\(screen.debugDescription)")
    }
}
