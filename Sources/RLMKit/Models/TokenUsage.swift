/// Input and output tokens of one or more model calls.
///
/// `inputTokens` counts every prompt token, cached or not; `cacheReadTokens` and `cacheWriteTokens` are the parts
/// of it the provider read from or wrote to its prompt cache, which it bills at other prices (see ``ModelPrice``).
public struct TokenUsage: Sendable, Codable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int
    /// Prompt tokens served from the provider's prompt cache (OpenAI's `prompt_tokens_details.cached_tokens`,
    /// Anthropic's `cache_read_input_tokens`); part of `inputTokens`.
    public var cacheReadTokens: Int
    /// Prompt tokens written to the provider's prompt cache (Anthropic's `cache_creation_input_tokens`); part of
    /// `inputTokens`.
    public var cacheWriteTokens: Int
    /// The part of `cacheWriteTokens` written with a one-hour lifetime, billed higher than five-minute writes.
    public var cacheWriteOneHourTokens: Int
    /// The server reported no usage, so these counts are estimated from the text (about 4 characters a token).
    public var estimated: Bool?
    public init(inputTokens: Int = 0, outputTokens: Int = 0, cacheReadTokens: Int = 0, cacheWriteTokens: Int = 0,
                cacheWriteOneHourTokens: Int = 0, estimated: Bool? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.cacheWriteOneHourTokens = cacheWriteOneHourTokens
        self.estimated = estimated
    }

    /// An estimate for a server that does not report usage (some do not when streaming).
    public static func estimate(request: ModelRequest, reply: String) -> TokenUsage {
        let input = request.messages.reduce(0) { $0 + $1.content.count } / 4 + 4 * request.messages.count
        return TokenUsage(inputTokens: input, outputTokens: max(1, reply.count / 4), estimated: true)
    }
    public var totalTokens: Int { inputTokens + outputTokens }
    /// Prompt tokens billed at the plain input price: neither read from nor written to a cache.
    public var uncachedInputTokens: Int { max(0, inputTokens - cacheReadTokens - cacheWriteTokens) }
    public static func + (lhs: TokenUsage, rhs: TokenUsage) -> TokenUsage {
        .init(inputTokens: lhs.inputTokens + rhs.inputTokens, outputTokens: lhs.outputTokens + rhs.outputTokens,
              cacheReadTokens: lhs.cacheReadTokens + rhs.cacheReadTokens,
              cacheWriteTokens: lhs.cacheWriteTokens + rhs.cacheWriteTokens,
              cacheWriteOneHourTokens: lhs.cacheWriteOneHourTokens + rhs.cacheWriteOneHourTokens)
    }
    enum CodingKeys: String, CodingKey {
        case estimated
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cacheReadTokens = "cache_read_tokens"
        case cacheWriteTokens = "cache_write_tokens"
        case cacheWriteOneHourTokens = "cache_write_1h_tokens"
    }

    /// Logs and reports written before cached tokens were counted have none: they decode as zero.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputTokens = try container.decode(Int.self, forKey: .inputTokens)
        outputTokens = try container.decode(Int.self, forKey: .outputTokens)
        cacheReadTokens = try container.decodeIfPresent(Int.self, forKey: .cacheReadTokens) ?? 0
        cacheWriteTokens = try container.decodeIfPresent(Int.self, forKey: .cacheWriteTokens) ?? 0
        cacheWriteOneHourTokens = try container.decodeIfPresent(Int.self, forKey: .cacheWriteOneHourTokens) ?? 0
        estimated = try container.decodeIfPresent(Bool.self, forKey: .estimated)
    }

    /// The cache counts always appear (0 when nothing was cached); the one-hour part only when there is one.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inputTokens, forKey: .inputTokens)
        try container.encode(outputTokens, forKey: .outputTokens)
        try container.encode(cacheReadTokens, forKey: .cacheReadTokens)
        try container.encode(cacheWriteTokens, forKey: .cacheWriteTokens)
        if cacheWriteOneHourTokens > 0 { try container.encode(cacheWriteOneHourTokens, forKey: .cacheWriteOneHourTokens) }
        try container.encodeIfPresent(estimated, forKey: .estimated)
    }
}
