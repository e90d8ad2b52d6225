import Foundation
import RLMKit

/// How a task was answered: the base model with the input in its prompt, or the RLM.
public enum BenchMethod: String, Codable, Sendable, CaseIterable {
    case base, rlm
}

/// One line of `results.jsonl`: one task answered by one method.
public struct BenchRecord: Codable, Sendable, Equatable {
    public var task: String
    public var suite: BenchSuite
    public var sizeTokens: Int
    public var method: BenchMethod
    public var score: Double
    public var prediction: String
    public var expected: String
    /// Input and output tokens per model name.
    public var tokens: [String: BenchTokens]
    /// Nil when a model used has no price.
    public var costUSD: Double?
    public var wallSeconds: Double
    /// Root-model turns (1 for the base model).
    public var turns: Int
    public var subCalls: Int
    /// The status of the run (`answered`, `partial`) or `failed` with the error.
    public var status: String
    public var error: String?
    /// The base model's input was cut to `--base-window`.
    public var truncated: Bool?
    /// The RLM run's JSON-lines trajectory (open it with `rlm view`), relative to the results folder.
    public var trajectory: String?
    /// What the sub-call cache did in the RLM run (hits, misses, tokens and cost saved); nil when it was off.
    public var subcallCache: SubcallCacheTally?

    public init(task: BenchTask, method: BenchMethod, score: Double, prediction: String, tokens: [String: BenchTokens],
                costUSD: Double?, wallSeconds: Double, turns: Int, subCalls: Int, status: String, error: String? = nil,
                truncated: Bool? = nil) {
        self.task = task.id
        self.suite = task.suite
        self.sizeTokens = task.sizeTokens
        self.method = method
        self.score = score
        self.prediction = prediction
        self.expected = task.gold.text
        self.tokens = tokens
        self.costUSD = costUSD
        self.wallSeconds = wallSeconds
        self.turns = turns
        self.subCalls = subCalls
        self.status = status
        self.error = error
        self.truncated = truncated
    }

    public var totalTokens: Int { tokens.values.reduce(0) { $0 + $1.input + $1.output } }

    enum CodingKeys: String, CodingKey {
        case task, suite, method, score, prediction, expected, tokens, turns, status, error, truncated, trajectory
        case sizeTokens = "size_tokens"
        case costUSD = "cost_usd"
        case wallSeconds = "wall_seconds"
        case subCalls = "sub_calls"
        case subcallCache = "subcall_cache"
    }

    /// Writes `cost_usd` as null when a model has no price, as docs/benchmarks.md says, rather than leaving it out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(suite, forKey: .suite)
        try container.encode(sizeTokens, forKey: .sizeTokens)
        try container.encode(method, forKey: .method)
        try container.encode(score, forKey: .score)
        try container.encode(prediction, forKey: .prediction)
        try container.encode(expected, forKey: .expected)
        try container.encode(tokens, forKey: .tokens)
        try container.encode(costUSD, forKey: .costUSD)
        try container.encode(wallSeconds, forKey: .wallSeconds)
        try container.encode(turns, forKey: .turns)
        try container.encode(subCalls, forKey: .subCalls)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encodeIfPresent(truncated, forKey: .truncated)
        try container.encodeIfPresent(trajectory, forKey: .trajectory)
        try container.encodeIfPresent(subcallCache, forKey: .subcallCache)
    }
}

/// Tokens of one model in one task. `input` counts every prompt token; `cacheRead` and `cacheWrite` are the parts
/// of it the provider read from or wrote to its prompt cache (billed at its discounted or write price).
public struct BenchTokens: Codable, Sendable, Equatable {
    public var input: Int
    public var output: Int
    public var cacheRead: Int
    public var cacheWrite: Int

    public init(input: Int, output: Int, cacheRead: Int = 0, cacheWrite: Int = 0) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
    }

    /// The counts of a model's calls, as the run reported them.
    public init(_ usage: TokenUsage) {
        self.init(input: usage.inputTokens, output: usage.outputTokens, cacheRead: usage.cacheReadTokens,
                  cacheWrite: usage.cacheWriteTokens)
    }

    enum CodingKeys: String, CodingKey {
        case input, output
        case cacheRead = "cache_read"
        case cacheWrite = "cache_write"
    }

    /// Results written before cached tokens were recorded have none: they read as zero.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        input = try container.decode(Int.self, forKey: .input)
        output = try container.decode(Int.self, forKey: .output)
        cacheRead = try container.decodeIfPresent(Int.self, forKey: .cacheRead) ?? 0
        cacheWrite = try container.decodeIfPresent(Int.self, forKey: .cacheWrite) ?? 0
    }
}

extension BenchGold {
    /// The expected answer as written in results and tables.
    public var text: String {
        switch self {
        case .exact(let answer), .choice(let answer): answer
        case .number(let value): String(value)
        case .pairs(let pairs): pairs.map { "(\($0[0]), \($0[1]))" }.joined(separator: " ")
        }
    }
}
