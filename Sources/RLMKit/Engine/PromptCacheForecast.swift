/// How much of a root turn's prompt the provider will likely serve from its cache, so that a budget admits root
/// turns at the price they will be billed at, not at the full input price.
///
/// A root turn repeats the previous turn's prompt and appends to it. Once a turn of a model has shown cache
/// activity (reads or writes), the next turn is expected to read the previous prompt from the cache: the share of
/// its prompt that the previous prompt's characters make up. Before any activity, nothing is expected from the
/// cache. The rest is priced as a cache write where the provider bills writes (above the input price), so the
/// forecast errs high.
struct PromptCacheForecast: Sendable {
    private struct Turn {
        var promptChars: Int
        var usage: TokenUsage
    }
    private var lastRootTurn: [String: Turn] = [:]

    /// Remembers what the latest root turn of `model` sent and what it reported.
    mutating func observe(rootTurnOf model: String, promptChars: Int, usage: TokenUsage) {
        lastRootTurn[model] = Turn(promptChars: promptChars, usage: usage)
    }

    /// The usage to price a root turn of `model` by: its prompt of `promptChars` characters, `inputTokens` as
    /// estimated, split into the part expected from the cache and the rest.
    func expectedUsage(rootTurnOf model: String, promptChars: Int, inputTokens: Int, outputTokens: Int = 0,
                       price: ModelPrice?) -> TokenUsage {
        var usage = TokenUsage(inputTokens: inputTokens, outputTokens: outputTokens)
        let last = lastRootTurn[model]
        if let last, last.usage.cacheReadTokens + last.usage.cacheWriteTokens > 0, promptChars > 0,
           last.promptChars <= promptChars {
            usage.cacheReadTokens = Int(Double(inputTokens) * Double(last.promptChars) / Double(promptChars))
        }
        if price?.cacheWritePerMillion != nil {
            // Root turns mark cache breakpoints, so where writes are billed the new part is written.
            usage.cacheWriteTokens = inputTokens - usage.cacheReadTokens
            if let last, last.usage.cacheWriteOneHourTokens > 0 { usage.cacheWriteOneHourTokens = usage.cacheWriteTokens }
        }
        return usage
    }
}
