import Foundation
import RLMKit
import Synchronization

/// A sub model that waits `delay` per call and counts what happened to its calls: a cancelled call ends its wait
/// at once (as a real HTTP request does when its task is cancelled). For tests of cancellation and budgets.
public final class CountingModel: LanguageModel {
    public let name: String
    public let delay: Duration
    /// What each finished call costs.
    public let usage: TokenUsage
    private let counts = Mutex((started: 0, finished: 0, cancelled: 0, inFlight: 0, peak: 0))

    public init(name: String = "counting-sub", delay: Duration, usage: TokenUsage = TokenUsage(inputTokens: 7, outputTokens: 3)) {
        self.name = name
        self.delay = delay
        self.usage = usage
    }

    /// Calls that began.
    public var started: Int { counts.withLock { $0.started } }
    /// Calls that answered.
    public var finished: Int { counts.withLock { $0.finished } }
    /// Calls cancelled while they waited.
    public var cancelled: Int { counts.withLock { $0.cancelled } }
    /// Calls in flight now.
    public var inFlight: Int { counts.withLock { $0.inFlight } }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        counts.withLock {
            $0.started += 1
            $0.inFlight += 1
            $0.peak = max($0.peak, $0.inFlight)
        }
        defer { counts.withLock { $0.inFlight -= 1 } }
        do {
            try await Task.sleep(for: delay)
        } catch {
            counts.withLock { $0.cancelled += 1 }
            throw error
        }
        counts.withLock { $0.finished += 1 }
        return ModelResponse(text: "ok", usage: usage, model: name)
    }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `limit` (then returns anyway: the caller's
/// own expectation says what was missing).
public func waitUntil(_ limit: Duration = .seconds(20), _ condition: () -> Bool) async {
    let deadline = ContinuousClock.now + limit
    while !condition() && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
}
