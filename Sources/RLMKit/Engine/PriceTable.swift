import Foundation

/// A model with no price while `--max-cost` is set.
public struct UnpricedModel: Error, CustomStringConvertible, Sendable {
    public var model: String
    public var description: String {
        "--max-cost needs a price for every model, and '\(model)' has none. Add it to rlm.toml (or ~/.config/rlm/config.toml):\n  [prices.\"\(model)\"]\n  input = 0.50    # USD per million input tokens\n  output = 1.50   # USD per million output tokens"
    }
}

/// USD per million tokens.
public struct ModelPrice: Sendable, Equatable, Codable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }
    /// USD for `usage` at this price.
    public func cost(of usage: TokenUsage) -> Double {
        (Double(usage.inputTokens) * inputPerMillion + Double(usage.outputTokens) * outputPerMillion) / 1_000_000
    }
}

/// Prices per model name. A name matches its exact entry, or the entry it names with a dated snapshot suffix
/// (`gpt-4.1-mini-2025-04-14` and `claude-sonnet-4-20250514` are priced as `gpt-4.1-mini` and `claude-sonnet-4`).
/// Nothing else matches: `gpt-5-pro` is not `gpt-5`, and an unknown name has no price.
public struct PriceTable: Sendable {
    public var prices: [String: ModelPrice]

    public init(prices: [String: ModelPrice]) { self.prices = prices }

    /// List prices of common OpenAI and Anthropic models (USD per million tokens, standard tier).
    public static let builtIn = PriceTable(prices: [
        "gpt-5": .init(inputPerMillion: 1.25, outputPerMillion: 10),
        "gpt-5-mini": .init(inputPerMillion: 0.25, outputPerMillion: 2),
        "gpt-5-nano": .init(inputPerMillion: 0.05, outputPerMillion: 0.4),
        "gpt-5-pro": .init(inputPerMillion: 15, outputPerMillion: 120),
        "gpt-4.1": .init(inputPerMillion: 2, outputPerMillion: 8),
        "gpt-4.1-mini": .init(inputPerMillion: 0.4, outputPerMillion: 1.6),
        "gpt-4.1-nano": .init(inputPerMillion: 0.1, outputPerMillion: 0.4),
        "gpt-4o": .init(inputPerMillion: 2.5, outputPerMillion: 10),
        "gpt-4o-mini": .init(inputPerMillion: 0.15, outputPerMillion: 0.6),
        "o3": .init(inputPerMillion: 2, outputPerMillion: 8),
        "o3-mini": .init(inputPerMillion: 1.1, outputPerMillion: 4.4),
        "o4-mini": .init(inputPerMillion: 1.1, outputPerMillion: 4.4),
        "claude-opus-4": .init(inputPerMillion: 15, outputPerMillion: 75),
        "claude-opus-4-1": .init(inputPerMillion: 15, outputPerMillion: 75),
        "claude-sonnet-4": .init(inputPerMillion: 3, outputPerMillion: 15),
        "claude-sonnet-4-5": .init(inputPerMillion: 3, outputPerMillion: 15),
        "claude-haiku-4-5": .init(inputPerMillion: 1, outputPerMillion: 5),
        "claude-3-7-sonnet": .init(inputPerMillion: 3, outputPerMillion: 15),
        "claude-3-5-sonnet": .init(inputPerMillion: 3, outputPerMillion: 15),
        "claude-3-5-haiku": .init(inputPerMillion: 0.8, outputPerMillion: 4),
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
