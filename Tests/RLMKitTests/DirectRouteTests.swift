import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// `RLM.route` in the library: the choice `auto` makes, the direct run, and ``RLMDirectSession``. A Python that
/// does not exist makes any REPL the direct route started fail the run.
@Suite struct DirectRouteTests {
    static let text = String(repeating: "The ferry leaves at nine. ", count: 400) + "The spare key is in the blue pot."

    func makeRLM(_ root: ScriptedModel, route: RLMRoute, window: Int = 32_768) -> RLM {
        var rlm = RLM(rootModel: root, repl: REPLConfiguration(python: "/nonexistent/python3"), rootModelWindowTokens: window)
        rlm.route = route
        return rlm
    }

    @Test func autoTakesTheDirectRouteUpToHalfTheWindowAndNoFurther() {
        let window = ResolvedWindow(tokens: 32_768, source: "configured")
        #expect(RouteDecision.auto(promptTokens: 16_384, window: window, hasSchema: false).route == .direct)
        #expect(RouteDecision.auto(promptTokens: 16_385, window: window, hasSchema: false).route == .rlm)
        #expect(RouteDecision.auto(promptTokens: 10, window: window, hasSchema: true).route == .rlm)
    }

    @Test func autoAsksTheRootModelOnceWithTheContextInThePrompt() async throws {
        let root = ScriptedModel(replies: ["In the blue pot."])
        let result = try await makeRLM(root, route: .auto).complete(query: "Where is the key?", context: .text(Self.text))
        #expect(result.status == .answered)
        #expect(result.answer == "In the blue pot.")
        #expect(result.route == .direct)
        #expect(result.routeReason?.contains("fit in half") == true)
        #expect(root.requests.count == 1)
        let prompt = root.requests[0].messages.map(\.content).joined()
        #expect(prompt.contains("The spare key is in the blue pot.") && prompt.contains("Question: Where is the key?"))
        #expect(!result.trajectory.contains { [.contextLoaded, .sandbox, .codeExecuted].contains($0.event) })
        #expect(result.usageByModel["scripted-root"]?.calls == 1)
    }

    @Test func autoRunsTheRLMWhenTheContextDoesNotFit() async throws {
        let root = ScriptedModel(replies: ["unused"])
        let decision = try await makeRLM(root, route: .auto, window: 2_048).chooseRoute(query: "Where?", context: .text(Self.text))
        #expect(decision.route == .rlm)
        #expect(decision.reason.contains("exceed half"))
        #expect(root.requests.isEmpty)
    }

    @Test func aSchemaTakesTheRLMEvenWhenDirectIsAsked() async throws {
        var rlm = makeRLM(ScriptedModel(replies: ["unused"]), route: .direct)
        rlm.answerSchema = try AnswerSchema(.object(["type": .string("integer")]))
        #expect(try await rlm.chooseRoute(query: "How many?", context: .text(Self.text)).route == .rlm)
    }

    @Test func aReplyCutAtTheOutputLimitIsPartialNeverWhole() async throws {
        let root = ScriptedModel { _, _ in
            ModelResponse(text: "The key is in the bl", finishReason: .length,
                          usage: TokenUsage(inputTokens: 900, outputTokens: 5), model: "scripted-root")
        }
        let result = try await makeRLM(root, route: .direct).complete(query: "Where?", context: .text(Self.text))
        #expect(result.status == .partial)
        #expect(result.stopReason == "output_limit")
        #expect(result.answer == "The key is in the bl")
        #expect(!result.trajectory.contains { $0.event == .finalAnswer })
    }

    @Test func aDirectSessionSendsEarlierExchangesUnderOneCacheKeyAndDropsTheOldestPastTheWindow() async throws {
        let root = ScriptedModel { _, index in
            ModelResponse(text: "answer \(index) " + String(repeating: "word ", count: 1_200), model: "scripted-root")
        }
        let rlm = makeRLM(root, route: .auto, window: 8_192)
        let decision = try await rlm.chooseRoute(query: "", context: .text(Self.text))
        #expect(decision.route == .direct)
        let session = try await RLMDirectSession(rlm: rlm, context: .text(Self.text), decision: decision)
        for question in 1...6 { _ = try await session.ask("question \(question)") }
        let requests = root.requests
        #expect(requests.count == 6)
        // The second question carries the first exchange after the context.
        #expect(requests[1].messages.map(\.content).contains { $0.hasPrefix("answer 0") })
        #expect(requests[1].messages.first { $0.role == .user }?.content.contains("The spare key") == true)
        // One key for the whole conversation, so the provider may cache its prefix.
        #expect(Set(requests.compactMap(\.promptCacheKey)).count == 1)
        #expect(requests.allSatisfy { $0.promptCacheKey != nil })
        // Three quarters of 8,192 tokens hold the context (~2,800) and the two newest exchanges (~1,500 each).
        let last = requests[5].messages.map(\.content)
        #expect(!last.contains { $0.hasPrefix("answer 2") })
        #expect(last.contains { $0.hasPrefix("answer 3") } && last.contains { $0.hasPrefix("answer 4") })
        #expect(last.joined().contains("The spare key is in the blue pot."))
    }
}
