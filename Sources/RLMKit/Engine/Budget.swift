import Foundation

/// Hard limits that hold for a whole recursion tree, children included. Nil means no limit.
public struct RLMBudget: Sendable {
    /// Sub-calls (`llm_query` prompts and child RLMs) in the whole tree.
    public var maxSubCalls: Int?
    /// Input plus output tokens of every model call in the tree.
    public var maxTokens: Int?
    /// Cost in USD, from the price table.
    public var maxCostUSD: Double?
    /// Wall time of the whole run.
    public var timeout: Duration?
    /// Consecutive failing code blocks in one RLM before it stops.
    public var maxConsecutiveErrors: Int?

    public init(maxSubCalls: Int? = nil, maxTokens: Int? = nil, maxCostUSD: Double? = nil, timeout: Duration? = nil,
                maxConsecutiveErrors: Int? = nil) {
        self.maxSubCalls = maxSubCalls
        self.maxTokens = maxTokens
        self.maxCostUSD = maxCostUSD
        self.timeout = timeout
        self.maxConsecutiveErrors = maxConsecutiveErrors
    }
}

/// The limit that stopped a run; its raw value is what `--json` reports.
public enum StopReason: String, Sendable, Codable {
    case maxIterations = "max_iterations"
    case maxSubCalls = "max_subcalls"
    case maxTokens = "max_tokens"
    case maxCost = "max_cost"
    case timeout
    case maxErrors = "max_errors"
    case cancelled
    /// An error ended the run after its first turn (see ``RLMRunFailure``).
    case failed
    /// The answer did not fit the run's answer schema after ``RLM/maxSchemaAttempts`` submissions.
    case schema
    /// A direct reply was cut at the model's output limit (finish reason `length`).
    case outputLimit = "output_limit"
}

/// An admitted sub-call, held against the budget until it settles: what it may spend is recomputed from these
/// estimates as the run learns how its models' servers count.
struct SpendReservation: Sendable {
    var model: String
    /// The prompt's tokens as estimated from its length.
    var estimatedInput = 0
    /// The reply's cap in tokens, which the request carries: what the budget left it. Nil when the run has no
    /// token or cost limit (the request is sent as it is).
    var outputCap: Int?
}

/// The reservations of one model's calls in flight, added up.
struct InFlightSpend: Sendable {
    var estimatedInput = 0
    var cappedOutput = 0
    var uncapped = 0

    mutating func add(_ reservation: SpendReservation) {
        estimatedInput += reservation.estimatedInput
        if let cap = reservation.outputCap { cappedOutput += cap } else { uncapped += 1 }
    }

    mutating func remove(_ reservation: SpendReservation) {
        estimatedInput -= reservation.estimatedInput
        if let cap = reservation.outputCap { cappedOutput -= cap } else { uncapped -= 1 }
    }
}

/// A sub-call refused because a budget is used up.
struct BudgetExhausted: Error, CustomStringConvertible {
    var reason: StopReason
    var detail: String
    var description: String { "budget exhausted — \(detail)" }
}
