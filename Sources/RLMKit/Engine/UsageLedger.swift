/// Calls and tokens of one model within a run.
public struct ModelUsage: Sendable, Codable, Equatable {
    public var calls: Int = 0
    public var failedCalls: Int = 0
    public var inputTokens: Int = 0
    public var outputTokens: Int = 0
    public init() {}
    enum CodingKeys: String, CodingKey {
        case calls
        case failedCalls = "failed_calls"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
    }
}

/// The run's accounting: one actor, so concurrent sub-calls add up exactly.
public actor UsageLedger {
    private var perModel: [String: ModelUsage] = [:]
    private var subCallCount = 0

    public init() {}

    func record(model: String, usage: TokenUsage, isSubCall: Bool) {
        perModel[model, default: ModelUsage()].calls += 1
        perModel[model, default: ModelUsage()].inputTokens += usage.inputTokens
        perModel[model, default: ModelUsage()].outputTokens += usage.outputTokens
        if isSubCall { subCallCount += 1 }
    }

    func recordFailure(model: String, isSubCall: Bool) {
        perModel[model, default: ModelUsage()].failedCalls += 1
        if isSubCall { subCallCount += 1 }
    }

    public var usageByModel: [String: ModelUsage] { perModel }
    public var subCalls: Int { subCallCount }
    public var total: TokenUsage {
        perModel.values.reduce(TokenUsage()) { $0 + TokenUsage(inputTokens: $1.inputTokens, outputTokens: $1.outputTokens) }
    }
}
