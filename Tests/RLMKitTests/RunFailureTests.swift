import Foundation
import Synchronization
import Testing
@testable import RLMKit
import RLMTesting

/// Failures mid-run, context windows, and the smaller rules of the loop.
@Suite(.serialized) struct RunFailureTests {
    /// A root model scripted by a closure that may throw, that can stream, and that may report a window.
    final class FlexibleModel: LanguageModel {
        let name: String
        let window: DiscoveredContextWindow?
        let reply: @Sendable (ModelRequest, Int) throws -> String
        let deltas: Int
        private let count = Mutex(0)
        private let seen = Mutex<[ModelRequest]>([])

        init(name: String = "flexible-root", window: DiscoveredContextWindow? = nil, deltas: Int = 1,
             reply: @escaping @Sendable (ModelRequest, Int) throws -> String) {
            self.name = name
            self.window = window
            self.deltas = deltas
            self.reply = reply
        }

        var requests: [ModelRequest] { seen.withLock { $0 } }

        func complete(_ request: ModelRequest) async throws -> ModelResponse {
            let index = count.withLock { value -> Int in
                value += 1
                return value - 1
            }
            seen.withLock { $0.append(request) }
            let text = try reply(request, index)
            return ModelResponse(text: text, usage: TokenUsage(inputTokens: 10, outputTokens: 5), model: name)
        }

        func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
            let response = try await complete(request)
            // Many small pieces, from one task, in order.
            let pieces = Array(response.text)
            let size = max(1, pieces.count / deltas)
            var start = 0
            while start < pieces.count {
                onDelta(String(pieces[start..<min(start + size, pieces.count)]))
                start += size
            }
            return response
        }

        func discoverContextWindow() async -> DiscoveredContextWindow? { window }
    }

    func makeRLM(_ root: FlexibleModel, iterations: Int = 6, window: Int? = nil, stream: Bool = false,
                 budget: RLMBudget = .init()) -> RLM {
        RLM(rootModel: root, limits: RLMLimits(maxIterations: iterations), repl: REPLConfiguration(cellTimeout: .seconds(30)),
            budget: budget, rootModelWindowTokens: window, streamRootResponses: stream)
    }

    @Test func aFailureAfterTheFirstTurnCarriesThePartialAnswer() async throws {
        let root = FlexibleModel { _, index in
            if index == 0 { return "The log has 3 failures so far.\n" + repl("x = 3") }
            throw ModelError.serverError(endpoint: "http://127.0.0.1:1/v1", status: 500, detail: "upstream crashed")
        }
        let failure = await #expect(throws: RLMRunFailure.self) {
            _ = try await makeRLM(root).complete(query: "q", context: .text("c"))
        }
        #expect(failure?.partial.answer == "The log has 3 failures so far.")
        #expect(failure?.partial.stopReason == "failed")
        #expect(failure?.partial.totalUsage.totalTokens == 15)
        #expect(failure.map { String(describing: $0.error) }?.contains("upstream crashed") == true)
        #expect(failure?.partial.trajectory.last?.details?["failure"] != nil)
    }

    @Test func aContextOverflowCompactsTheHistoryAndRetries() async throws {
        let condensed = Mutex(false)
        let root = FlexibleModel { request, _ in
            let chars = request.messages.reduce(0) { $0 + $1.content.count }
            if request.messages.first?.content.contains("You condense the working notes") == true {
                condensed.withLock { $0 = true }
                return "SUMMARY: printed x five times."
            }
            if chars > 11_000 {
                throw ModelError.badRequest(endpoint: "http://127.0.0.1:1/v1", status: 400,
                                            detail: "the request exceeds the available context size, try increasing it")
            }
            return condensed.withLock { $0 } ? repl("FINAL('finished after compaction')") : repl("print('x' * 1500)")
        }
        let result = try await makeRLM(root, iterations: 10, window: 200_000).complete(query: "q", context: .text("c"))
        #expect(result.answer == "finished after compaction", "\(root.requests.map { $0.messages.reduce(0) { $0 + $1.content.count } })")
        let compaction = try #require(result.trajectory.first { $0.event == .historyCompacted })
        #expect(compaction.details?["forced"] == .bool(true))
    }

    @Test func theServersWindowSizesSubCallsAndIsReported() async throws {
        let root = FlexibleModel(window: DiscoveredContextWindow(tokens: 4_096, source: "llama.cpp GET /props n_ctx")) { _, _ in
            repl("FINAL('ok')")
        }
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        let windows = try #require(result.trajectory.first { $0.event == .modelWindows })
        #expect(windows.details?["root_window_tokens"] == .number(4_096))
        #expect(windows.details?["root_window_source"] == .string("llama.cpp GET /props n_ctx"))
        #expect(windows.details?["output_chars_per_block"] == .number(2_048))
        #expect(root.requests[safe: 0]?.messages.first?.content.contains("One prompt can hold about 9216 characters") == true)
    }

    @Test func anUnknownLocalModelGetsAConservativeWindow() async throws {
        let root = FlexibleModel(name: "qwen3-8b") { _, _ in repl("FINAL('ok')") }
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(root.requests[safe: 0]?.messages.first?.content.contains("One prompt can hold about 18432 characters") == true)
        let windows = try #require(result.trajectory.first { $0.event == .modelWindows })
        #expect(windows.details?["root_window_tokens"] == .number(8_192))
        #expect(ModelWindows.known(for: "claude-sonnet-4-5")?.tokens == 200_000)
        #expect(ModelWindows.known(for: "Qwen/Qwen3-235B") == nil)
    }

    @Test func streamedDeltasReachTheObserverInOrder() async throws {
        let text = (0..<400).map { "line \($0)" }.joined(separator: "\n") + "\n" + repl("FINAL('ok')")
        let root = FlexibleModel(deltas: 800) { _, _ in text }
        let received = Mutex("")
        let kinds = Mutex<[RLMEvent.Kind]>([])
        _ = try await makeRLM(root, stream: true).complete(query: "q", context: .text("c")) { event in
            kinds.withLock { $0.append(event.event) }
            if event.event == .modelDelta, let piece = event.text { received.withLock { $0 += piece } }
        }
        #expect(received.withLock { $0 } == text)
        // Every piece arrives before the response it belongs to is reported whole.
        let sequence = kinds.withLock { $0 }
        let lastDelta = try #require(sequence.lastIndex(of: .modelDelta))
        let firstResponse = try #require(sequence.firstIndex(of: .modelResponse))
        #expect(lastDelta < firstResponse)
    }

    @Test func feedbackStaysBoundedForAReplyWithManyBlocks() async throws {
        let blocks = (0..<300).map { _ in repl("print('y' * 900)") }.joined(separator: "\n")
        let root = FlexibleModel { _, index in index == 0 ? blocks : repl("FINAL('ok')") }
        _ = try await makeRLM(root, window: 200_000).complete(query: "q", context: .text("c"))
        let feedback = try #require(root.requests.dropFirst().first?.messages.last?.content)
        #expect(feedback.count < 2 * 20_000 + 2_000, "the feedback has \(feedback.count) characters")
        #expect(feedback.contains("more block(s) ran; their output is not shown"))
    }

    @Test func turnsWithoutCodeCountTowardMaxErrors() async throws {
        let root = FlexibleModel { _, _ in "I think the answer is probably 42, but let me reflect more." }
        let result = try await makeRLM(root, iterations: 10, budget: RLMBudget(maxConsecutiveErrors: 3))
            .complete(query: "q", context: .text("c"))
        #expect(result.stopReason == "max_errors")
        #expect(root.requests.count == 3)
    }
}
