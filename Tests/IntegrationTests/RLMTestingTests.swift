import Foundation
import RLMKit
import RLMTesting
import Synchronization
import Testing

/// The testing product works as an app would use it: scripted and wire setups agree, cells run in a real REPL,
/// and the simulator's faults reach the real client as a real server's would.
@Suite struct RLMTestingTests {
    static func labeller() -> RLM {
        let root = ScriptedModel(replies: [
            repl("labels = llm_query_batched([line for line in context.splitlines()])\nprint(labels)"),
            repl("FINAL(','.join(labels))"),
        ])
        let sub = FunctionModel(name: "labeller") { $0.contains("refund") ? "billing" : "other" }
        return RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: 4),
                   repl: .testing)
    }

    @Test func scriptedAndWireSetupsGiveTheSameAnswer() async throws {
        let context = RLMContext.text("I want a refund\nThe app crashes\nrefund please")
        let scripted = try await Self.labeller().test(.scripted) { client in
            #expect(client.simulator == nil)
            return try await client.complete(query: "Label each line", context: context).answer
        }
        let (wired, requests, models) = try await Self.labeller().test(.wire) { client in
            let result = try await client.complete(query: "Label each line", context: context)
            return (result.answer, client.simulator?.requestCount ?? 0, Set(result.usageByModel.keys))
        }
        #expect(scripted == "billing,other,billing")
        #expect(wired == scripted)
        // Two root turns and three sub-calls went over HTTP, accounted under the models' own names.
        #expect(requests == 5)
        #expect(models == ["scripted-root", "labeller"])
    }

    @Test func aScriptedFailureReachesTheWireClientAsAServerError() async throws {
        struct Overloaded: Error {}
        let root = ScriptedModel { _, _ in throw Overloaded() }
        let rlm = RLM(rootModel: root, repl: .testing)
        await #expect(throws: ModelError.self) {
            try await rlm.test(.wire) { client in try await client.complete(query: "q", context: .text("c")) }
        }
    }

    @Test func aCellRunsInARealREPLWithTheSubModel() async throws {
        let outcome = try await runCell("print(llm_query_batched(context.split()))\nFINAL(len(context))",
                                        context: .text("a b c"), sub: FunctionModel { $0.uppercased() })
        #expect(outcome.stdout == "['A', 'B', 'C']\n")
        #expect(outcome.final == "5")
        #expect(!outcome.failed)
    }

    @Test func variablesLastAcrossCellsOfOneTestREPL() async throws {
        try await withTestREPL(context: .text("hello")) { repl in
            _ = try await repl.execute("n = len(context)")
            let outcome = try await repl.execute("print(n * 2)\nprint(llm_query('x'))")
            #expect(outcome.stdout == "10\nError: this REPL has no sub model\n")
        }
    }
}

/// The simulator's faults, as the real client meets them.
@Suite struct SimulatorFaultTests {
    @Test func aWrongKeyGetsTheProvidersRefusal() async throws {
        let server = try await ModelSimulator.start(apiKey: "sk-right") { _ in SimulatedReply(text: "hi") }
        defer { Task { await server.shutdown() } }
        let good = OpenAICompatibleModel(name: "simulated-model", baseURL: server.baseURL, apiKey: "sk-right", retry: .none)
        #expect(try await good.complete(ModelRequest(messages: [.user("x")])).text == "hi")
        let bad = OpenAICompatibleModel(name: "simulated-model", baseURL: server.baseURL, apiKey: "sk-wrong", retry: .none)
        let error = await #expect(throws: ModelError.self) { try await bad.complete(ModelRequest(messages: [.user("x")])) }
        #expect(error?.isConfigurationProblem == true)
        #expect(!String(describing: error).contains("sk-wrong"))
        // The refused request never reached the handler.
        #expect(server.requestCount == 1)
    }

    @Test func aStreamThatBreaksMidwayDeliversItsFirstPiecesThenFails() async throws {
        let server = try await ModelSimulator.start { _ in
            SimulatedReply(text: "one two three four five six seven eight")
                // Wide pauses: a loaded machine reads each piece before the connection breaks.
                .pacingEvents(every: .milliseconds(200)).breakingOff(afterEvents: 3)
        }
        defer { Task { await server.shutdown() } }
        let model = OpenAICompatibleModel(name: "simulated-model", baseURL: server.baseURL, retry: .standard)
        let deltas = Mutex<[String]>([])
        await #expect(throws: ModelError.self) {
            try await model.complete(ModelRequest(messages: [.user("x")])) { delta in deltas.withLock { $0.append(delta) } }
        }
        // The text of the two events sent after the opening role chunk, before the connection broke, arrived (one delta each, or one for both
        // when a loaded machine reads them together), and nothing after it; a stream that already delivered text
        // is not sent again.
        let received = deltas.withLock { $0.joined() }
        #expect(received.hasPrefix("one two"), "\(received)")
        #expect(!received.contains("eight"), "\(received)")
        #expect((1...2).contains(deltas.withLock { $0 }.count))
        #expect(received.components(separatedBy: "one").count == 2, "no text was delivered twice: \(received)")
        // Once text was delivered the stream is not sent again. On a machine loaded by the whole suite the break
        // can reach the client before the first text does; that attempt delivered nothing and is retried.
        #expect((1...2).contains(server.requestCount))
    }

    @Test func aPacedStreamArrivesWhole() async throws {
        let server = try await ModelSimulator.start { _ in SimulatedReply(text: "paced reply text").pacingEvents(every: .milliseconds(20)) }
        defer { Task { await server.shutdown() } }
        let model = OpenAICompatibleModel(name: "simulated-model", baseURL: server.baseURL)
        let deltas = Mutex<[String]>([])
        let response = try await model.complete(ModelRequest(messages: [.user("x")])) { delta in deltas.withLock { $0.append(delta) } }
        #expect(response.text == "paced reply text")
        #expect(deltas.withLock { $0 }.count > 1)
        #expect(response.usage.outputTokens > 0)
    }

    @Test func aHangUpIsRetriedLikeADroppedConnection() async throws {
        let calls = Mutex(0)
        let server = try await ModelSimulator.start { _ in
            calls.withLock { $0 += 1; return $0 } == 1 ? .hangUp() : SimulatedReply(text: "second try")
        }
        defer { Task { await server.shutdown() } }
        let model = OpenAICompatibleModel(name: "simulated-model", baseURL: server.baseURL,
                                          retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10)))
        #expect(try await model.complete(ModelRequest(messages: [.user("x")])).text == "second try")
        #expect(server.requestCount == 2)
    }
}
