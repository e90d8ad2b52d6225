import Foundation

/// How a run answers: through the REPL (the RLM), by asking the root model once with the whole context in its
/// prompt, or whichever of the two suits the input.
public enum RLMRoute: String, Sendable, Codable, CaseIterable {
    /// The direct route when the context and the question fit in half the root model's window, else the RLM.
    /// The cheap choice for inputs of every size.
    case auto
    /// The RLM: the context goes into a REPL and the root model reads it through code (the default).
    case rlm
    /// The root model is asked once, with the whole context in its prompt; no REPL process is started.
    case direct
}

/// The route a run takes, and why.
public struct RouteDecision: Sendable, Equatable {
    /// `.rlm` or `.direct`, never `.auto`.
    public var route: RLMRoute
    /// Why, in a sentence for the user: what was asked for and what the input measured.
    public var reason: String
    /// Estimated tokens of the context and the question; nil when nothing was measured (`route` rlm).
    public var promptTokens: Int?
    /// The root model's window the input was judged against; nil when nothing was measured.
    public var rootWindow: ResolvedWindow?

    public init(route: RLMRoute, reason: String, promptTokens: Int? = nil, rootWindow: ResolvedWindow? = nil) {
        self.route = route
        self.reason = reason
        self.promptTokens = promptTokens
        self.rootWindow = rootWindow
    }

    /// The route of a run configured for the RLM: nothing measured, no window asked for.
    static let configuredRLM = RouteDecision(route: .rlm, reason: "route rlm (the default) was asked for")
    /// The route of a question in an ``RLMSession``: its REPL is already running.
    static let sessionRLM = RouteDecision(route: .rlm, reason: "the question runs in its session's REPL (the route was chosen when the session started)")

    /// What `auto` chooses for a prompt of `promptTokens` against `window`: direct when it fits in half of it
    /// (the other half is left for the reply and the estimate's error), else the RLM. An answer schema is
    /// checked in the REPL, so it always takes the RLM.
    static func auto(promptTokens: Int, window: ResolvedWindow, hasSchema: Bool) -> RouteDecision {
        let measure = "the context and question (about \(promptTokens) tokens)"
        let against = "half the root model's window (\(window.tokens / 2) of \(window.tokens) tokens, \(window.source))"
        if hasSchema {
            return RouteDecision(route: .rlm, reason: "route auto: an answer schema is checked in the REPL, so the RLM answers",
                                 promptTokens: promptTokens, rootWindow: window)
        }
        if promptTokens <= window.tokens / 2 {
            return RouteDecision(route: .direct, reason: "route auto: \(measure) fit in \(against); asking the root model directly",
                                 promptTokens: promptTokens, rootWindow: window)
        }
        return RouteDecision(route: .rlm, reason: "route auto: \(measure) exceed \(against); running the RLM",
                             promptTokens: promptTokens, rootWindow: window)
    }
}

extension TokenUsage {
    /// Tokens in `characters` of text, at the 4 characters a token that ``estimate(request:reply:)`` counts.
    static func estimatedTokens(characters: Int) -> Int {
        (characters + 3) / 4
    }
}
