import Foundation

/// What a run over a context would meet, found before any completion request: the context's size, the
/// models' windows, the route `auto` would take, and what one pass of the sub model over the whole context
/// costs. It is what to read before choosing `budget.maxCostUSD`.
public struct RunEstimate: Sendable {
    /// Bytes of text behind the context, and its files (binary ones left out, as a run leaves them out).
    public var context: ContextMeasure
    public var contextBytes: Int { context.bytes }
    /// Estimated tokens of the context, at about 4 characters a token.
    public var contextTokens: Int
    public var rootModel: String
    public var rootWindow: ResolvedWindow
    public var subModel: String
    public var subWindow: ResolvedWindow
    /// The route `auto` would take, and why.
    public var autoRoute: RouteDecision
    /// One pass of the sub model over the whole context, each call filled to the sub model's window.
    public var subPass: SubPass

    public struct SubPass: Sendable {
        /// Sub-calls needed to show the sub model every character once.
        public var calls: Int
        /// Characters one sub-call carries (the share of the sub model's window a run offers its code).
        public var charactersPerCall: Int
        /// Input tokens of those calls: the context plus the question with each.
        public var inputTokens: Int
        /// Their input at the sub model's list price; nil when the price table has no price for it.
        public var inputCostUSD: Double?
    }
}

extension RLM {
    /// Measures `context` and asks the models' windows (a local server's window probe, as a run does); makes
    /// no completion request.
    public func estimate(query: String, context: RLMContext) async throws -> RunEstimate {
        async let windows = ModelWindows.resolve(for: self)
        let measure = try await context.measure()
        let bytes = measure.bytes
        let resolved = await windows
        let contextTokens = TokenUsage.estimatedTokens(characters: bytes)
        let autoRoute = RouteDecision.auto(promptTokens: Self.directPromptTokens(contextBytes: bytes, query: query),
                                           window: resolved.root, hasSchema: answerSchema != nil)
        let sub = subModel ?? rootModel
        let perCall = resolved.sub.promptChars
        let calls = max(1, (bytes + perCall - 1) / perCall)
        let inputTokens = contextTokens + calls * TokenUsage.estimatedTokens(characters: query.count)
        let cost = prices.price(for: sub.name)?.cost(of: TokenUsage(inputTokens: inputTokens, outputTokens: 0))
        return RunEstimate(context: measure, contextTokens: contextTokens, rootModel: rootModel.name,
                           rootWindow: resolved.root, subModel: sub.name, subWindow: resolved.sub, autoRoute: autoRoute,
                           subPass: .init(calls: calls, charactersPerCall: perCall, inputTokens: inputTokens, inputCostUSD: cost))
    }
}
