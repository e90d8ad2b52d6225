import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What `rlm ask` says on stderr while it runs: `--verbose` (code, outputs and sub-calls as they happen), `--quiet`,
/// and the status line on a terminal.
@Suite struct ProgressTests {
    static func models() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model", "sub-model"]) { request in
            if request.model == "sub-model" { return SimulatedReply(text: "sub says hi", promptTokens: 30, completionTokens: 4) }
            if request.assistantTurns == 0 {
                return SimulatedReply(text: replBlock("r = llm_query_batched(['a', 'b', 'c'])\nprint('MARKER-OUTPUT', r)"),
                                      promptTokens: 500, completionTokens: 40)
            }
            return SimulatedReply(text: replBlock("FINAL('done')"), promptTokens: 700, completionTokens: 10)
        }
    }

    static func ask(_ flags: [String], server: ModelSimulator) async throws -> CLI.Run {
        let context = try TemporaryFile(contents: "text")
        return try await CLI.run(["ask", "q", "--context", context.path, "--sub-model", "sub-model", "--no-log"] + flags,
                                 environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
    }

    @Test func verboseShowsCodeOutputAndSubCallsWithoutATerminal() async throws {
        let server = try await Self.models()
        defer { Task { await server.shutdown() } }
        let run = try await Self.ask(["--verbose"], server: server)
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "done\n")
        #expect(run.stderr.contains("rlm: turn 1/"))
        #expect(run.stderr.contains("llm_query_batched(['a', 'b', 'c'])"), "the code is not shown")
        #expect(run.stderr.contains("MARKER-OUTPUT"), "the output is not shown")
        #expect(run.stderr.components(separatedBy: "sub-call #").count - 1 == 3, "each sub-call gets a line")
    }

    @Test func quietLeavesOnlyWarnings() async throws {
        let server = try await Self.models()
        defer { Task { await server.shutdown() } }
        let run = try await Self.ask(["--quiet"], server: server)
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(!run.stderr.contains("turn 1/") && !run.stderr.contains("MARKER-OUTPUT"))
        let both = try await Self.ask(["--quiet", "--verbose"], server: server)
        #expect(both.exitCode == 2)
        #expect(both.stderr.contains("--verbose and --quiet contradict each other"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "util-linux's script is not installed: no terminal to test the status line on"))
    func statusLineOnATerminalCountsSubCallsTokensCostAndTime() async throws {
        let server = try await Self.models()
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(contents: "text")
        let prices = try TemporaryFile(named: "prices.toml", contents: "[prices.\"root-model\"]\ninput = 1.0\noutput = 2.0\n[prices.\"sub-model\"]\ninput = 1.0\noutput = 1.0\n")
        let command = [CLI.binary, "ask", "q", "--context", context.path, "--sub-model", "sub-model", "--no-log"]
            .map { "'" + $0 + "'" }.joined(separator: " ")
        // `script` gives rlm a terminal as stderr; what rlm wrote there comes back on script's stdout.
        let run = try await CLI.runProgram("/usr/bin/script", ["-qec", command, "/dev/null"],
                                           environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model", "RLM_CONFIG": prices.path])
        #expect(run.exitCode == 0, "output: \(run.stdout)")
        // 3 sub-calls of 34 tokens, 2 root calls of 540 and 710: 1,352 tokens; cost 1,352 tokens at about $1-2 per million.
        #expect(run.stdout.contains("sub-calls 3 done, 0 in flight"), "output: \(run.stdout)")
        #expect(run.stdout.contains("1352 tokens"))
        #expect(run.stdout.contains("$0.0014"))
        #expect(run.stdout.contains(" s\n") || run.stdout.contains(" s\r\n"), "no elapsed time")
    }
}

extension CLI {
    /// Runs any program with the clean environment `rlm` gets (for wrappers such as `script`).
    static func runProgram(_ path: String, _ arguments: [String], environment extra: [String: String]) async throws -> Run {
        let result = try await Subprocess.run(.path(FilePath(path)), arguments: Arguments(arguments),
                                              environment: .custom(environment(extra)), input: .none,
                                              output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        return Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }
}
