import Foundation

/// A conversation about one context on the direct route: no REPL; each question goes to the root model with
/// the whole context and the earlier questions and answers in its prompt, so the prefix stays the same from
/// question to question. What ``RLMSession`` is for the RLM route; a chat chooses between them once, with
/// ``RLM/chooseRoute(query:context:)``.
///
/// Questions run one at a time. Each is a run of its own (events, log, limits and budget per question). When
/// the root model's window is known, the oldest exchanges are left out once the conversation would pass three
/// quarters of it; the context always stays.
public actor RLMDirectSession {
    public nonisolated let rlm: RLM
    /// The route decision the session was started with (route `.direct`).
    public nonisolated let decision: RouteDecision
    nonisolated let context: RLMContext
    private let contextBytes: Int
    private var earlier: [(question: String, answer: String)] = []
    private var questions = 0
    /// Marks every question's request as a turn of one conversation, so the provider may cache its prefix.
    private let promptCacheKey = "rlm-direct-" + UUID().uuidString.lowercased()
    private var busy = false
    private let waiting = WaiterQueue<Void, Void>()

    /// Measures `context` (without reading it); the reading happens for each question.
    public init(rlm: RLM, context: RLMContext, decision: RouteDecision) async throws {
        self.rlm = rlm
        self.context = context
        self.decision = RouteDecision(route: .direct, reason: decision.reason, promptTokens: decision.promptTokens,
                                      rootWindow: decision.rootWindow)
        contextBytes = try await context.measuredBytes()
    }

    /// Answers `query` directly; see ``RLM/complete(query:context:route:earlierExchanges:onEvent:)``.
    public func ask(_ query: String, onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        if busy { try await waiting.wait() } else { busy = true }
        defer { if !waiting.resumeFirst() { busy = false } }
        questions += 1
        var configuration = rlm
        configuration.logURL = RLMSession.logURL(rlm.logURL, question: questions)
        let result = try await configuration.complete(query: query, context: context, route: decision,
                                                      earlierExchanges: kept(for: query), promptCacheKey: promptCacheKey,
                                                      onEvent: onEvent)
        earlier.append((query, result.answer))
        return result
    }

    /// The newest earlier exchanges that fit beside the context and `query` in three quarters of the window.
    private func kept(for query: String) -> [(question: String, answer: String)] {
        guard let window = decision.rootWindow else { return earlier }
        var room = window.tokens * 3 / 4 - RLM.directPromptTokens(contextBytes: contextBytes, query: query)
        var kept: [(question: String, answer: String)] = []
        for exchange in earlier.reversed() {
            room -= TokenUsage.estimatedTokens(characters: exchange.question.count + exchange.answer.count)
            guard room >= 0 else { break }
            kept.insert(exchange, at: 0)
        }
        return kept
    }
}
