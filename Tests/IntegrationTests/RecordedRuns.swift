import Foundation
import ModelSimulator
import Synchronization

/// Real `rlm ask` runs against the model simulator, kept as trajectory logs for the viewer's tests: a recursive
/// run (depth 2), the same question without recursion, and a wide fan-out.
enum RecordedRuns {
    static let question = "Which teams are named in the report, and what does each one own?"
    static let recursiveAnswer = "Teams: ALPHA owns billing, BETA owns search."
    static let plainAnswer = "Teams: ALPHA and BETA (owners not checked)."
    static let report = (0..<40).map { "line \($0): team \($0 % 2 == 0 ? "ALPHA" : "BETA") reports status green" }.joined(separator: "\n")

    static let folder: URL = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-viewer-runs-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }()

    /// A config file with prices for the simulated models, so the page has costs to show.
    static func priceConfig() throws -> URL {
        let url = folder.appendingPathComponent("prices.toml")
        try """
            [prices."root-model"]
            input = 2.0
            output = 8.0

            [prices."sub-model"]
            input = 0.1
            output = 0.4
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// The simulated models: the root asks two child RLMs and three sub-calls, each child three sub-calls of its own.
    /// `holdAnswer` runs before the root's answering reply (a test holds the run there until it is ready).
    static func recursiveModels(rootDelay: Duration = .milliseconds(30), recursive: Bool = true,
                                holdAnswer: (@Sendable () async -> Void)? = nil) async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model", "sub-model"]) { request in
            if request.model == "sub-model" {
                return SimulatedReply(text: "noted: " + String(request.lastUserText.prefix(40)), promptTokens: 180,
                                      completionTokens: 12, delay: .milliseconds(60))
            }
            let firstUser = request.messages.first { $0.role == "user" }?.content ?? ""
            let usage = (prompt: 900 + 400 * request.assistantTurns, completion: 90)
            func reply(_ text: String) -> SimulatedReply {
                SimulatedReply(text: text, promptTokens: usage.prompt, completionTokens: usage.completion, delay: rootDelay)
            }
            if firstUser.contains("CHILD-TASK") {
                if request.assistantTurns == 0 {
                    return reply("I will read my part in pieces.\n" + replBlock("""
                        notes = llm_query_batched(['Owner in: ' + context[i*40:(i+1)*40] for i in range(3)])
                        print(len(context), notes)
                        """))
                }
                let team = firstUser.contains("ALPHA") ? "ALPHA owns billing" : "BETA owns search"
                return reply(replBlock("FINAL('\(team)')"))
            }
            switch request.assistantTurns {
            case 0:
                let code = recursive
                    ? """
                    print(type(context).__name__, len(context))
                    owners = rlm_query_batched(['CHILD-TASK: what does ALPHA own?', 'CHILD-TASK: what does BETA own?'], [context[:600], context[600:1200]])
                    checks = llm_query_batched(['Is this a team name? ' + t for t in ['ALPHA', 'BETA', 'GAMMA']])
                    print(owners, checks)
                    """
                    : """
                    print(type(context).__name__, len(context))
                    checks = llm_query_batched(['Is this a team name? ' + t for t in ['ALPHA', 'BETA', 'GAMMA']])
                    print(checks)
                    """
                return reply("Let me look at the report first.\n" + replBlock(code))
            default:
                await holdAnswer?()
                return reply("The report names two teams.\n" + replBlock("FINAL('\(recursive ? recursiveAnswer : plainAnswer)')"))
            }
        }
    }

    /// Runs `rlm ask` over the report with `extra` flags and returns the log's path (the run must answer).
    static func ask(_ name: String, server: ModelSimulator, extra: [String], log chosen: URL? = nil) async throws -> (log: URL, run: CLI.Run) {
        let context = folder.appendingPathComponent("report.txt")
        try report.write(to: context, atomically: true, encoding: .utf8)
        // Suites run in parallel: each run gets a log of its own.
        let log = chosen ?? folder.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6)).jsonl")
        let run = try await CLI.run(["ask", question, "--context", context.path, "--sub-model", "sub-model", "--log", log.path] + extra,
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model",
                                                  "RLM_CONFIG": try priceConfig().path])
        return (log, run)
    }

    /// The depth-2 run: the root, two child RLMs with their own turns, and sub-calls at both levels.
    static func recursive() async throws -> (log: URL, run: CLI.Run) {
        let server = try await recursiveModels()
        defer { Task { await server.shutdown() } }
        return try await ask("recursive-depth-2", server: server, extra: ["--max-depth", "2"])
    }

    /// The same question, answered without child RLMs (for the comparison).
    static func plain() async throws -> (log: URL, run: CLI.Run) {
        let server = try await recursiveModels(recursive: false)
        defer { Task { await server.shutdown() } }
        return try await ask("plain-depth-1", server: server, extra: [])
    }

    /// One turn of `subCalls` sub-calls in one batch, then the answer.
    static func fanOut(subCalls: Int, name: String) async throws -> (log: URL, run: CLI.Run) {
        let server = try await ModelSimulator.start(models: ["root-model", "sub-model"]) { request in
            if request.model == "sub-model" {
                return SimulatedReply(text: "ok " + String(request.lastUserText.suffix(6)), promptTokens: 40, completionTokens: 3)
            }
            if request.assistantTurns == 0 {
                return SimulatedReply(text: replBlock("""
                    answers = llm_query_batched(['item %d' % i for i in range(\(subCalls))])
                    print(len(answers), sum(a.startswith('ok') for a in answers))
                    """), promptTokens: 900, completionTokens: 60)
            }
            return SimulatedReply(text: replBlock("FINAL('all \(subCalls) items answered')"), promptTokens: 1200, completionTokens: 20)
        }
        defer { Task { await server.shutdown() } }
        return try await ask(name, server: server, extra: ["--max-concurrency", "64"])
    }
}

/// A door a test opens once: until then `wait()` waits (checking every 100 ms, at most two minutes).
final class Gate: Sendable {
    private let isOpen = Mutex(false)
    func open() { isOpen.withLock { $0 = true } }
    func wait() async {
        for _ in 0..<1_200 where !isOpen.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(100)) }
    }
}
