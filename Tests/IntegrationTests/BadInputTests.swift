import Foundation
import RLMTesting
import Synchronization
import Testing

/// Bad input from the user or the model never crashes or hangs `rlm`: each case ends with a message that
/// says what happened, the right exit code, and a complete trajectory log.
@Suite(.serialized) struct BadInputTests {
    struct Outcome {
        var run: CLI.Run
        var log: String
        var answer: String { run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Runs `rlm ask` with a root model that replies `replies[turn]` (the last one repeats).
    func ask(context: String, replies: [String], arguments: [String] = [], stdin: String? = nil) async throws -> Outcome {
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            SimulatedReply(text: replies[min(request.assistantTurns, replies.count - 1)])
        }
        defer { Task { await server.shutdown() } }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bad-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: log) }
        let run = try await CLI.run(["ask", "q", "--context", context, "--log", log.path] + arguments,
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"], stdin: stdin)
        return Outcome(run: run, log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    func expectCompleteLog(_ outcome: Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.log.hasPrefix("{"), sourceLocation: sourceLocation)
        #expect(outcome.log.contains("\"run_finished\""), sourceLocation: sourceLocation)
    }

    @Test func emptyContext() async throws {
        let file = try TemporaryFile(contents: "")
        let outcome = try await ask(context: file.path, replies: [replBlock("FINAL(repr(context))")])
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer == "''")
        expectCompleteLog(outcome)
    }

    @Test func binaryFileIsDecodedWithReplacementAndSaidSo() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bin-\(UUID().uuidString).bin")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let outcome = try await ask(context: url.path, replies: [replBlock("FINAL(context.count('\\ufffd') > 0)")])
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer == "True")
        #expect(outcome.run.stderr.contains("invalid UTF-8"))
        expectCompleteLog(outcome)
    }

    @Test func directoryOfOneHundredThousandFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-many-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for folder in 0..<100 {
            let sub = directory.appendingPathComponent("d\(folder)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: false)
            for file in 0..<1_000 {
                _ = FileManager.default.createFile(atPath: sub.appendingPathComponent("f\(file).txt").path,
                                                   contents: Data("file \(folder)-\(file)\n".utf8))
            }
        }
        let outcome = try await ask(context: directory.path, replies: [replBlock("FINAL(len(context))")])
        #expect(outcome.run.exitCode == 0, "stderr: \(outcome.run.stderr)")
        #expect(outcome.answer == "100000")
        expectCompleteLog(outcome)
    }

    @Test func closedStandardInputIsAnEmptyContext() async throws {
        let outcome = try await ask(context: "-", replies: [replBlock("FINAL('chars: %d' % len(context))")])
        #expect(outcome.run.exitCode == 0, "stderr: \(outcome.run.stderr)")
        #expect(outcome.answer == "chars: 0")
    }

    @Test func contextOverTheMemoryCapIsRefusedClearly() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-big-\(UUID().uuidString).txt")
        let line = Data(String(repeating: "0123456789", count: 100).utf8 + [10])
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        var block = Data()
        for _ in 0..<1_000 { block.append(line) }
        for _ in 0..<200 { try handle.write(contentsOf: block) }
        try handle.close()
        defer { try? FileManager.default.removeItem(at: url) }
        let outcome = try await ask(context: url.path, replies: [replBlock("FINAL(len(context))")],
                                    arguments: ["--repl-memory-mb", "128"])
        #expect(outcome.run.exitCode == 2)
        #expect(outcome.run.stderr.contains("does not fit under the REPL memory cap of 128 MB"))
        #expect(outcome.run.stderr.contains("--repl-memory-mb"))
        expectCompleteLog(outcome)
    }

    @Test func emptyRepliesEndAsAFailedRunWithAMessage() async throws {
        let file = try TemporaryFile(contents: "text")
        let outcome = try await ask(context: file.path, replies: [""], arguments: ["--max-iterations", "2"])
        #expect(outcome.run.exitCode == 1)
        #expect(outcome.run.stderr.contains("before the model submitted an answer"))
        expectCompleteLog(outcome)
    }

    @Test func malformedFenceAndHugeRepliesAreSurvived() async throws {
        let file = try TemporaryFile(contents: "text")
        let huge = String(repeating: "blah ", count: 600_000) + "\n" + replBlock("x = 'big reply ran'")
        let outcome = try await ask(context: file.path, replies: [
            "```repl\nprint('never closed'",
            huge,
            replBlock("print('y' * 5_000_000)"),
            replBlock("FINAL(x)"),
        ], arguments: ["--model-window", "1000000"])  // the script counts turns: no summarising here
        #expect(outcome.run.exitCode == 0, "stderr: \(outcome.run.stderr)")
        #expect(outcome.answer == "big reply ran")
        #expect(outcome.log.contains("characters cut"))
        expectCompleteLog(outcome)
    }
}
