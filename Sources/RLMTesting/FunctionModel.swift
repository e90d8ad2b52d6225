import Foundation
import RLMKit
import Synchronization

/// A sub model that answers each prompt with a function of it, after an optional delay, counting its calls.
///
/// ```swift
/// let sub = FunctionModel { prompt in prompt.contains("refund") ? "billing" : "other" }
/// ```
public final class FunctionModel: LanguageModel {
    public let name: String
    /// How long each call takes.
    public let delay: Duration
    public let answer: @Sendable (String) -> String
    private let inFlight = Mutex((now: 0, peak: 0, calls: 0))

    /// - Parameters:
    ///   - name: The model name runs account under.
    ///   - delay: Simulated latency of each call.
    ///   - answer: The reply to a prompt (the last message of the request). Each call costs 7 input and 3 output tokens.
    public init(name: String = "scripted-sub", delay: Duration = .zero, answer: @escaping @Sendable (String) -> String) {
        self.name = name
        self.delay = delay
        self.answer = answer
    }

    /// The most calls that were in flight at once.
    public var peak: Int { inFlight.withLock { $0.peak } }
    /// Calls made so far.
    public var calls: Int { inFlight.withLock { $0.calls } }

    /// The same function under another name, as a provider serves another model on the same endpoint.
    public func withModelName(_ name: String) -> any LanguageModel {
        FunctionModel(name: name, delay: delay, answer: answer)
    }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        inFlight.withLock {
            $0.now += 1
            $0.calls += 1
            $0.peak = max($0.peak, $0.now)
        }
        defer { inFlight.withLock { $0.now -= 1 } }
        if delay > .zero { try await Task.sleep(for: delay) }
        let prompt = request.messages.last?.content ?? ""
        return ModelResponse(text: answer(prompt), usage: TokenUsage(inputTokens: 7, outputTokens: 3), model: name)
    }
}
