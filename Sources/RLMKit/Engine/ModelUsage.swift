/// Calls, tokens and cost of one model within a run.
public struct ModelUsage: Sendable, Codable, Equatable {
    public var calls: Int = 0
    public var failedCalls: Int = 0
    public var inputTokens: Int = 0
    public var outputTokens: Int = 0
    /// Calls whose tokens were estimated because the server reported none.
    public var estimatedCalls: Int = 0
    /// Nil when the model has no entry in the price table.
    public var costUSD: Double?
    public init() {}
    enum CodingKeys: String, CodingKey {
        case calls
        case failedCalls = "failed_calls"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case costUSD = "cost_usd"
        case estimatedCalls = "estimated_calls"
    }
}
