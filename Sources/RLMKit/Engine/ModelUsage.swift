/// Calls, tokens and cost of one model within a run.
public struct ModelUsage: Sendable, Codable, Equatable {
    public var calls: Int = 0
    public var failedCalls: Int = 0
    public var inputTokens: Int = 0
    public var outputTokens: Int = 0
    /// Input tokens read from the provider's prompt cache (part of `inputTokens`).
    public var cacheReadTokens: Int = 0
    /// Input tokens written to the provider's prompt cache (part of `inputTokens`).
    public var cacheWriteTokens: Int = 0
    /// The part of `cacheWriteTokens` written with a one-hour lifetime.
    public var cacheWriteOneHourTokens: Int = 0
    /// Calls whose tokens were estimated because the server reported none.
    public var estimatedCalls: Int = 0
    /// Nil when the model has no entry in the price table.
    public var costUSD: Double?
    public init() {}

    /// The tokens of these calls, added up.
    public var tokens: TokenUsage {
        TokenUsage(inputTokens: inputTokens, outputTokens: outputTokens, cacheReadTokens: cacheReadTokens,
                   cacheWriteTokens: cacheWriteTokens, cacheWriteOneHourTokens: cacheWriteOneHourTokens)
    }

    /// Counts one call's tokens in.
    mutating func add(_ usage: TokenUsage) {
        calls += 1
        inputTokens += usage.inputTokens
        outputTokens += usage.outputTokens
        cacheReadTokens += usage.cacheReadTokens
        cacheWriteTokens += usage.cacheWriteTokens
        cacheWriteOneHourTokens += usage.cacheWriteOneHourTokens
        if usage.estimated == true { estimatedCalls += 1 }
    }

    enum CodingKeys: String, CodingKey {
        case calls
        case failedCalls = "failed_calls"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cacheReadTokens = "cache_read_tokens"
        case cacheWriteTokens = "cache_write_tokens"
        case cacheWriteOneHourTokens = "cache_write_1h_tokens"
        case costUSD = "cost_usd"
        case estimatedCalls = "estimated_calls"
    }

    /// Reports written before cached tokens were counted have none: they decode as zero.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        calls = try container.decode(Int.self, forKey: .calls)
        failedCalls = try container.decodeIfPresent(Int.self, forKey: .failedCalls) ?? 0
        inputTokens = try container.decode(Int.self, forKey: .inputTokens)
        outputTokens = try container.decode(Int.self, forKey: .outputTokens)
        cacheReadTokens = try container.decodeIfPresent(Int.self, forKey: .cacheReadTokens) ?? 0
        cacheWriteTokens = try container.decodeIfPresent(Int.self, forKey: .cacheWriteTokens) ?? 0
        cacheWriteOneHourTokens = try container.decodeIfPresent(Int.self, forKey: .cacheWriteOneHourTokens) ?? 0
        estimatedCalls = try container.decodeIfPresent(Int.self, forKey: .estimatedCalls) ?? 0
        costUSD = try container.decodeIfPresent(Double.self, forKey: .costUSD)
    }
}
