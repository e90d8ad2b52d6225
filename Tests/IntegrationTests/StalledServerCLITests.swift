import Foundation
import ModelSimulator
import Testing

/// `rlm ask --request-timeout 5` against a server that sends the head and half a reply, then goes silent with the
/// connection open: the stalled request runs out its timeout and is retried, whether the root call or a sub-call
/// stalls, whole or streamed, over either wire. Without a limit on the body, the run would wait for ever; the
/// time limit turns that into a failure.
@Suite(.serialized, .timeLimit(.minutes(1))) struct StalledServerCLITests {
    enum Wire: String, CaseIterable, Sendable { case openai, anthropic }

    static func environment(_ wire: Wire, _ server: ModelSimulator) -> [String: String] {
        ["RLM_PROVIDER": wire.rawValue, "RLM_MODEL": "root-model",
         "RLM_BASE_URL": wire == .anthropic ? "http://127.0.0.1:\(server.port)" : server.baseURL]
    }

    @Test("the root call stalls mid-body; the retry answers", arguments: Wire.allCases)
    func rootCallStalls(wire: Wire) async throws {
        let server = try await ModelSimulator.start(models: ["root-model"], handler: ModelSimulator.stallingFirst(1) { _ in
            SimulatedReply(text: replBlock("FINAL('answered after the stall')"))
        })
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(named: "context.txt", contents: "some context")
        let run = try await CLI.run(["ask", "question", "--context", context.path, "--request-timeout", "5", "--no-log", "--quiet"],
                                    environment: Self.environment(wire, server))
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "answered after the stall")
        // The first request stalled; on a loaded machine a later one may run out its time too.
        #expect(server.requestCount >= 2)
    }

    @Test("the streamed root call goes silent after its opening event; the idle limit ends it and the retry answers",
          arguments: Wire.allCases)
    func streamedRootCallStalls(wire: Wire) async throws {
        let server = try await ModelSimulator.start(models: ["root-model"], handler: ModelSimulator.stallingFirst(1) { _ in
            SimulatedReply(text: replBlock("FINAL('streamed after the stall')"))
        })
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(named: "context.txt", contents: "some context")
        let run = try await CLI.run(["ask", "question", "--context", context.path, "--stream", "--request-timeout", "30",
                                     "--stream-idle-timeout", "2", "--no-log", "--quiet"],
                                    environment: Self.environment(wire, server))
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "streamed after the stall")
        #expect(server.requestCount >= 2)
    }

    @Test("a sub-call stalls mid-body; the retry answers and the run goes on", arguments: Wire.allCases)
    func subCallStalls(wire: Wire) async throws {
        let handler: ModelSimulator.Handler = { request in
            if request.model == "sub-model" { return SimulatedReply(text: "sub ok") }
            guard request.assistantTurns > 0 else { return SimulatedReply(text: replBlock("print('sub says', llm_query('say ok'))")) }
            let saw = request.lastUserText.contains("sub says sub ok")
            return SimulatedReply(text: replBlock(saw ? "FINAL('the sub-call answered after the stall')" : "FINAL('no sub answer')"))
        }
        let server = try await ModelSimulator.start(
            models: ["root-model", "sub-model"],
            handler: ModelSimulator.stallingFirst(1, where: { $0.model == "sub-model" }, handler))
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(named: "context.txt", contents: "some context")
        let run = try await CLI.run(["ask", "question", "--context", context.path, "--sub-model", "sub-model",
                                     "--request-timeout", "5", "--no-log", "--quiet"],
                                    environment: Self.environment(wire, server))
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "the sub-call answered after the stall")
        // Two root turns, and the sub-call at least twice: stalled, then answered.
        #expect(server.requestCount >= 4)
    }

    @Test("a server that stalls every time: the run fails with the cause and the flag, not a hang")
    func everyAttemptStalls() async throws {
        let server = try await ModelSimulator.start(models: ["root-model"]) { _ in SimulatedReply(text: "never whole").stalling() }
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(named: "context.txt", contents: "some context")
        let run = try await CLI.run(["ask", "question", "--context", context.path, "--request-timeout", "1", "--max-retries", "2",
                                     "--no-log", "--quiet"],
                                    environment: Self.environment(.openai, server))
        #expect(run.exitCode == 1, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("--request-timeout"), "\(run.stderr)")
        #expect(server.requestCount == 2)
    }
}
