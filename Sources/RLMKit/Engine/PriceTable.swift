import Foundation

/// A model with no price while `--max-cost` is set.
public struct UnpricedModel: Error, CustomStringConvertible, Sendable {
    public var model: String
    public var description: String {
        "--max-cost needs a price for every model, and '\(model)' has none. Add it to rlm.toml (or ~/.config/rlm/config.toml):\n  [prices.\"\(model)\"]\n  input = 0.50    # USD per million input tokens\n  output = 1.50   # USD per million output tokens\n  cached_input = 0.05   # optional: prompt tokens read from the provider's cache\n  cache_write = 0.625   # optional: prompt tokens written to it (Anthropic)"
    }
}

/// USD per million tokens.
public struct ModelPrice: Sendable, Equatable, Codable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    /// Prompt tokens read from the provider's prompt cache; nil bills them as plain input.
    public var cachedInputPerMillion: Double?
    /// Prompt tokens written to the cache with the five-minute lifetime; nil bills them as plain input.
    /// One-hour writes cost twice the input price (Anthropic's rule for every model).
    public var cacheWritePerMillion: Double?
    public init(inputPerMillion: Double, outputPerMillion: Double, cachedInputPerMillion: Double? = nil,
                cacheWritePerMillion: Double? = nil) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.cacheWritePerMillion = cacheWritePerMillion
    }

    /// A price in the built-in table's short form.
    init(input: Double, output: Double, cached: Double, write: Double? = nil) {
        self.init(inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached, cacheWritePerMillion: write)
    }

    /// USD per million one-hour cache writes: twice the input price.
    public var oneHourCacheWritePerMillion: Double { 2 * inputPerMillion }

    /// USD for `usage` at this price: uncached input, cache reads, five-minute and one-hour writes, and output,
    /// each at its own price.
    public func cost(of usage: TokenUsage) -> Double {
        let oneHourWrites = min(usage.cacheWriteOneHourTokens, usage.cacheWriteTokens)
        let fiveMinuteWrites = usage.cacheWriteTokens - oneHourWrites
        let input = Double(usage.uncachedInputTokens) * inputPerMillion
            + Double(usage.cacheReadTokens) * (cachedInputPerMillion ?? inputPerMillion)
            + Double(fiveMinuteWrites) * (cacheWritePerMillion ?? inputPerMillion)
            + Double(oneHourWrites) * oneHourCacheWritePerMillion
        return (input + Double(usage.outputTokens) * outputPerMillion) / 1_000_000
    }

    enum CodingKeys: String, CodingKey {
        case inputPerMillion = "input_per_million"
        case outputPerMillion = "output_per_million"
        case cachedInputPerMillion = "cached_input_per_million"
        case cacheWritePerMillion = "cache_write_per_million"
    }
}

/// Prices per model name. A name matches its exact entry, or the entry it names with a dated snapshot suffix
/// (`gpt-4.1-mini-2025-04-14` and `claude-sonnet-4-20250514` are priced as `gpt-4.1-mini` and `claude-sonnet-4`).
/// Nothing else matches: `gpt-5-pro` is not `gpt-5`, and an unknown name has no price.
public struct PriceTable: Sendable {
    public var prices: [String: ModelPrice]

    public init(prices: [String: ModelPrice]) { self.prices = prices }

    /// List prices of common OpenAI and Anthropic models (USD per million tokens, standard tier), with their
    /// prompt-cache prices: OpenAI bills cached input at a tenth (GPT-5), a quarter (GPT-4.1, o3, o4-mini) or a
    /// half (GPT-4o, o3-mini) of the input price and reports no writes; Anthropic bills reads at a tenth and
    /// five-minute writes at 1.25 times.
    public static let builtIn = PriceTable(prices: [
        "gpt-5": .init(input: 1.25, output: 10, cached: 0.125),
        "gpt-5-mini": .init(input: 0.25, output: 2, cached: 0.025),
        "gpt-5-nano": .init(input: 0.05, output: 0.4, cached: 0.005),
        "gpt-5-pro": .init(inputPerMillion: 15, outputPerMillion: 120),
        "gpt-4.1": .init(input: 2, output: 8, cached: 0.5),
        "gpt-4.1-mini": .init(input: 0.4, output: 1.6, cached: 0.1),
        "gpt-4.1-nano": .init(input: 0.1, output: 0.4, cached: 0.025),
        "gpt-4o": .init(input: 2.5, output: 10, cached: 1.25),
        "gpt-4o-mini": .init(input: 0.15, output: 0.6, cached: 0.075),
        "o3": .init(input: 2, output: 8, cached: 0.5),
        "o3-mini": .init(input: 1.1, output: 4.4, cached: 0.55),
        "o4-mini": .init(input: 1.1, output: 4.4, cached: 0.275),
        "claude-opus-4": .init(input: 15, output: 75, cached: 1.5, write: 18.75),
        "claude-opus-4-1": .init(input: 15, output: 75, cached: 1.5, write: 18.75),
        "claude-sonnet-4": .init(input: 3, output: 15, cached: 0.3, write: 3.75),
        "claude-sonnet-4-5": .init(input: 3, output: 15, cached: 0.3, write: 3.75),
        "claude-haiku-4-5": .init(input: 1, output: 5, cached: 0.1, write: 1.25),
        "claude-3-7-sonnet": .init(input: 3, output: 15, cached: 0.3, write: 3.75),
        "claude-3-5-sonnet": .init(input: 3, output: 15, cached: 0.3, write: 3.75),
        "claude-3-5-haiku": .init(input: 0.8, output: 4, cached: 0.08, write: 1),
    ])

    public func price(for model: String) -> ModelPrice? {
        if let exact = prices[model] { return exact }
        return Self.snapshotBase(of: model).flatMap { prices[$0] }
    }

    /// `name` without a dated snapshot suffix (`-2025-04-14`, `-20250514`) or `-latest`; nil when it has none.
    /// (Called for every sub-call, so it compares bytes rather than building a `Regex`, whose literal is parsed
    /// again at each use.)
    static func snapshotBase(of name: String) -> String? {
        if name.hasSuffix("-latest") { return String(name.dropLast("-latest".count)) }
        let bytes = Array(name.utf8)
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        for pattern in ["-dddd-dd-dd", "-dddddddd"] where bytes.count > pattern.utf8.count {
            let suffix = bytes.suffix(pattern.utf8.count)
            let matches = zip(suffix, pattern.utf8).allSatisfy { byte, expected in
                expected == UInt8(ascii: "d") ? isDigit(byte) : byte == expected
            }
            if matches { return String(decoding: bytes.dropLast(pattern.utf8.count), as: UTF8.self) }
        }
        return nil
    }

    /// This table with `other`'s entries added (and winning).
    public func merging(_ other: [String: ModelPrice]) -> PriceTable {
        PriceTable(prices: prices.merging(other) { $1 })
    }
}
