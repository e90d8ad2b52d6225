import Foundation

extension RLM {
    /// The route a run of `query` over `context` takes, and why (see ``route``).
    ///
    /// `rlm` measures nothing. `auto` asks the root model's window (a local server's probe, as a run does) and
    /// measures the context without loading it. A run with an ``answerSchema`` always takes the RLM route: the
    /// answer is checked in the REPL.
    public func chooseRoute(query: String, context: RLMContext) async throws -> RouteDecision {
        switch route {
        case .rlm:
            return .configuredRLM
        case .direct where answerSchema != nil:
            return RouteDecision(route: .rlm, reason: "route direct was asked for, but an answer schema is checked in the REPL, so the RLM answers")
        case .direct:
            async let window = ModelWindows.resolve(configured: rootModelWindowTokens, model: rootModel)
            let tokens = Self.directPromptTokens(contextBytes: try await context.measuredBytes(), query: query)
            let resolved = await window
            return RouteDecision(route: .direct, reason: "route direct was asked for: the context and question (about \(tokens) tokens) go to the root model (window \(resolved.tokens) tokens, \(resolved.source))",
                                 promptTokens: tokens, rootWindow: resolved)
        case .auto where answerSchema != nil:
            return RouteDecision(route: .rlm, reason: "route auto: an answer schema is checked in the REPL, so the RLM answers")
        case .auto:
            async let window = ModelWindows.resolve(configured: rootModelWindowTokens, model: rootModel)
            let tokens = Self.directPromptTokens(contextBytes: try await context.measuredBytes(), query: query)
            return .auto(promptTokens: tokens, window: await window, hasSchema: false)
        }
    }

    /// Answers `query` about `context` on a route already chosen with ``chooseRoute(query:context:)``.
    /// - Parameters:
    ///   - decision: the route; on `.direct` the root model is asked once with the whole context in its
    ///     prompt and no REPL is started. A reply cut at the model's output limit comes back with status
    ///     partial and stop reason `output_limit`.
    ///   - earlierExchanges: on the direct route, the questions and answers that came before in the same
    ///     conversation (a chat that chose the direct route); the RLM route ignores them.
    public func complete(query: String, context: RLMContext, route decision: RouteDecision,
                         earlierExchanges: [(question: String, answer: String)] = [],
                         onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        try await complete(query: query, context: context, route: decision, earlierExchanges: earlierExchanges,
                           promptCacheKey: nil, onEvent: onEvent)
    }

    /// The same, with `promptCacheKey` marking a direct conversation whose prefix (instructions and context) the
    /// provider may cache for the next question.
    func complete(query: String, context: RLMContext, route decision: RouteDecision,
                  earlierExchanges: [(question: String, answer: String)], promptCacheKey: String?,
                  onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> RLMResult {
        let run = RLMRun(configuration: self, query: query, onEvent: onEvent, chosenRoute: decision)
        if decision.route == .direct {
            return try await run.runDirect(context: context, earlier: earlierExchanges, promptCacheKey: promptCacheKey)
        }
        return try await run.run(context: context)
    }

    /// Estimated tokens of a direct prompt: the context, the question and our instructions around them.
    static func directPromptTokens(contextBytes: Int, query: String) -> Int {
        TokenUsage.estimatedTokens(characters: contextBytes + query.count + Prompts.directOverheadChars)
    }
}
