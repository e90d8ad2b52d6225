/// How much of a root turn's prompt the provider will likely serve from its cache, so that a budget admits root
/// turns at the price they will be billed at, not at the full input price.
///
/// A root turn repeats the previous turn's prompt and appends to it. Once a turn of a model has shown cache
/// activity (reads or writes), the next turn is expected to read the previous prompt from the cache; before that,
/// nothing is. The rest is priced as a cache write where the provider bills writes (above the input price), so
/// the forecast errs high.
struct PromptCacheForecast: Sendable {
    private var lastRootTurn: [String: TokenUsage] = [:]

    /// Remembers what the latest root turn of `model` reported.
    mutating func observe(rootTurnOf model: String, usage: TokenUsage) {
        lastRootTurn[model] = usage
    }

    /// The usage to price a root turn of `model` by: `inputTokens` (an estimate of the whole prompt) split into
    /// the part expected from the cache and the rest.
    func expectedUsage(rootTurnOf model: String, inputTokens: Int, outputTokens: Int, price: ModelPrice?) -> TokenUsage {
        var usage = TokenUsage(inputTokens: inputTokens, outputTokens: outputTokens)
        let last = lastRootTurn[model]
        if let last, last.cacheReadTokens + last.cacheWriteTokens > 0 {
            usage.cacheReadTokens = min(inputTokens, last.inputTokens)
        }
        if price?.cacheWritePerMillion != nil {
            // Root turns mark breakpoints, so where writes are billed the new part is written.
            usage.cacheWriteTokens = inputTokens - usage.cacheReadTokens
            if let last, last.cacheWriteOneHourTokens > 0 { usage.cacheWriteOneHourTokens = usage.cacheWriteTokens }
        }
        return usage
    }
}
