import Foundation

/// How long Anthropic keeps a cached prompt prefix after its last use. Writes of the longer lifetime cost twice the
/// input price instead of 1.25 times (see ``ModelPrice``).
public enum PromptCacheTTL: String, Sendable, CaseIterable {
    case fiveMinutes = "5m"
    case oneHour = "1h"
}

extension AnthropicModel {
    // MARK: Cache breakpoints

    /// The fewest prompt tokens Anthropic caches for `model`; a shorter prefix marked for caching is just not
    /// cached. 4,096 for Claude Opus 4.5 and later Opus models and Haiku 4.5, 2,048 for the older Haiku models,
    /// 1,024 for the others.
    static func minimumCacheableTokens(model: String) -> Int {
        let name = model.lowercased()
        if name.contains("haiku-4") || name.contains("opus-4-5") || name.contains("opus-4-6") { return 4_096 }
        if name.contains("haiku") { return 2_048 }
        return 1_024
    }

    /// The system prompt and the turns with cache breakpoints: one at the end of the system prompt and one at the
    /// end of the last turn, so the next turn (the same prefix plus a reply and a new message) reads what this one
    /// wrote. Two of the API's four. A breakpoint whose prefix is shorter than `minimumTokens` (estimated at four
    /// characters a token) is left out: the API would not cache it anyway.
    static func markingCacheBreakpoints(system: String, turns: [[String: String]], ttl: PromptCacheTTL,
                                        minimumTokens: Int) -> (system: (any Sendable)?, messages: [[String: any Sendable]]) {
        var control: [String: String] = ["type": "ephemeral"]
        if ttl == .oneHour { control["ttl"] = ttl.rawValue }
        let systemChars = system.count
        let totalChars = turns.reduce(systemChars) { $0 + ($1["content"]?.count ?? 0) }
        var markedSystem: (any Sendable)? = system.isEmpty ? nil : system
        if !system.isEmpty, systemChars / 4 >= minimumTokens {
            markedSystem = [["type": "text", "text": system, "cache_control": control] as [String: any Sendable]]
        }
        var messages: [[String: any Sendable]] = turns.map { $0 }
        if let last = turns.indices.last, totalChars / 4 >= minimumTokens {
            messages[last]["content"] = [["type": "text", "text": turns[last]["content"] ?? "",
                                          "cache_control": control] as [String: any Sendable]]
        }
        return (markedSystem, messages)
    }
}
