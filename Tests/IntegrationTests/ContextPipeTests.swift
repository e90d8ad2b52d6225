import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A FIFO or a `/dev/fd/N` path given to `--context` is read once by the host, like `-`, so it works under the
/// strict sandbox, where the REPL could not open it.
@Suite(.serialized) struct ContextPipeTests {
    static let text = "pipe line one\nthe pipe code is FIFO-4417\n"

    /// A root model that finds the code in the context and answers with it and the context's length.
    static func codeFinder() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model"]) { _ in
            SimulatedReply(text: replBlock("""
                import re
                FINAL(re.search(r'FIFO-\\d+', context).group(0) + ' ' + str(len(context)))
                """))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aFIFOIsReadOnceUnderTheStrictSandbox() async throws {
        let server = try await Self.codeFinder()
        defer { Task { await server.shutdown() } }
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-fifo-\(UUID().uuidString.prefix(8))")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        defer { try? FileManager.default.removeItem(at: fifo) }
        // The writer (a shell of its own, so a broken pipe cannot hurt the tests) blocks until rlm opens the FIFO,
        // then writes once and closes: a second reader would find nothing.
        let text = Self.text
        let writer = Task {
            try await Subprocess.run(.path(FilePath("/bin/sh")), arguments: ["-c", #"printf '%s' "$TEXT" > "$FIFO""#],
                                     environment: .custom(CLI.environment(["TEXT": text, "FIFO": fifo.path])),
                                     input: .none, output: .discarded, error: .discarded).terminationStatus
        }
        let run = try await CLI.run(["ask", "What is the pipe code?", "--context", fifo.path, "--sandbox", "strict", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        // Had rlm never opened the FIFO, the writer would wait for ever: a reader of our own lets it finish.
        let release = open(fifo.path, O_RDONLY | O_NONBLOCK)
        #expect(try await writer.value == .exited(0))
        if release >= 0 { close(release) }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "FIFO-4417 \(text.count)\n", "stdout: \(run.stdout)\nstderr: \(run.stderr)")
    }

    @Test(.timeLimit(.minutes(2)))
    func processSubstitutionIsReadOnceUnderTheStrictSandbox() async throws {
        let server = try await Self.codeFinder()
        defer { Task { await server.shutdown() } }
        // bash gives `<(…)` to rlm as /dev/fd/63, a pipe only this process holds.
        let result = try await Subprocess.run(
            .path(FilePath("/bin/bash")),
            arguments: ["-c", #""$RLM" ask 'What is the pipe code?' --context <(printf '%s' "$TEXT") --sandbox strict --no-log"#],
            environment: .custom(CLI.environment(["RLM": CLI.binary, "TEXT": Self.text,
                                                  "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])),
            input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus == .exited(0), "stderr: \(result.standardError)")
        #expect(result.standardOutput == "FIFO-4417 \(Self.text.count)\n", "stderr: \(result.standardError)")
        #expect(!result.standardError.contains("/dev/fd/"), "stderr: \(result.standardError)")
    }
}
