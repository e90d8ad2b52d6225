import ArgumentParser
import Foundation
import RLMKit

/// A limit that a flag or a config file can set, and the rule its value must follow.
enum Limit: String, CaseIterable, Sendable {
    case maxIterations = "max_iterations"
    case maxConcurrency = "max_concurrency"
    case maxDepth = "max_depth"
    case maxSubcalls = "max_subcalls"
    case maxTokens = "max_tokens"
    case maxCost = "max_cost"
    case timeout
    case cellTimeout = "cell_timeout"
    case maxErrors = "max_errors"

    var flag: String { "--" + rawValue.replacingOccurrences(of: "_", with: "-") }

    /// Counts are whole numbers; costs and seconds may have decimals.
    var isWholeNumber: Bool { ![.maxCost, .timeout, .cellTimeout].contains(self) }

    /// The value used when neither a flag nor a config file sets the limit; nil means no limit.
    var defaultValue: Double? {
        switch self {
        case .maxIterations: 30
        case .maxConcurrency: 16
        case .maxDepth: 1
        case .cellTimeout: 120
        default: nil
        }
    }

    /// Seconds are turned into a `Duration`, so they must stay in its range.
    static let maxSeconds = 1e9

    /// What is wrong with `value`, given as `setting` (a flag or a config key), or nil when it is acceptable.
    func problem(with value: Double, setting: String) -> String? {
        guard value.isFinite else { return "\(setting) must be a finite number." }
        switch self {
        case .maxSubcalls: return value >= 0 ? nil : "\(setting) cannot be negative."
        case .maxCost: return value > 0 ? nil : "\(setting) must be more than 0 USD."
        case .timeout, .cellTimeout:
            guard value > 0 else { return "\(setting) must be more than 0 seconds." }
            return value <= Self.maxSeconds ? nil : "\(setting) must be at most \(Int(Self.maxSeconds)) seconds."
        default: return value >= 1 ? nil : "\(setting) must be at least 1."
        }
    }
}

/// The limits of a run, as flags. Each one left out falls back to the config file, then to its default,
/// so a value in `rlm.toml` applies whenever no flag is given.
struct LimitOptions: ParsableArguments {
    @Option(help: "Root-loop turns before a last 'answer now' turn, per RLM in the tree (default 30). [rlm.toml: max_iterations]")
    var maxIterations: Int?
    @Option(help: "Sub-calls in flight at once, whole tree (default 16). [rlm.toml: max_concurrency]")
    var maxConcurrency: Int?
    @Option(help: "Levels of the tree that have a REPL; at the last one, rlm_query is a plain sub-call (default 1). [rlm.toml: max_depth]")
    var maxDepth: Int?
    @Option(help: "Sub-calls (llm_query prompts and child RLMs) in the whole tree. [rlm.toml: max_subcalls]")
    var maxSubcalls: Int?
    @Option(help: "Input + output tokens of every model call in the whole tree. [rlm.toml: max_tokens]")
    var maxTokens: Int?
    @Option(help: "Cost in USD of the whole tree (needs a price for each model: built in for common ones, else [prices] in rlm.toml). [rlm.toml: max_cost]")
    var maxCost: Double?
    @Option(help: "Wall time of the run in seconds. [rlm.toml: timeout]")
    var timeout: Double?
    @Option(help: "Seconds one code block may run before it is interrupted (default 120). [rlm.toml: cell_timeout]")
    var cellTimeout: Double?
    @Option(help: "Consecutive failing code blocks (in one RLM) before it stops. [rlm.toml: max_errors]")
    var maxErrors: Int?

    func flagValue(_ limit: Limit) -> Double? {
        switch limit {
        case .maxIterations: maxIterations.map(Double.init)
        case .maxConcurrency: maxConcurrency.map(Double.init)
        case .maxDepth: maxDepth.map(Double.init)
        case .maxSubcalls: maxSubcalls.map(Double.init)
        case .maxTokens: maxTokens.map(Double.init)
        case .maxCost: maxCost
        case .timeout: timeout
        case .cellTimeout: cellTimeout
        case .maxErrors: maxErrors.map(Double.init)
        }
    }

    func validate() throws {
        for limit in Limit.allCases {
            if let value = flagValue(limit), let problem = limit.problem(with: value, setting: limit.flag) {
                throw ValidationError(problem)
            }
        }
    }

    /// The flag, else the config file's value (checked when the file was read), else the default.
    func value(_ limit: Limit, config: ConfigFile) -> Double? {
        flagValue(limit) ?? config.limits[limit] ?? limit.defaultValue
    }

    /// The limits that apply, with flags over the config file over defaults.
    func resolved(config: ConfigFile) -> ResolvedLimits {
        func count(_ limit: Limit) -> Int? { value(limit, config: config).map { Int($0) } }
        func duration(_ limit: Limit) -> Duration? { value(limit, config: config).map { .milliseconds(Int64($0 * 1000)) } }
        return ResolvedLimits(
            limits: RLMLimits(maxIterations: count(.maxIterations) ?? 30, maxConcurrency: count(.maxConcurrency) ?? 16,
                              maxDepth: count(.maxDepth) ?? 1),
            budget: RLMBudget(maxSubCalls: count(.maxSubcalls), maxTokens: count(.maxTokens),
                              maxCostUSD: value(.maxCost, config: config), timeout: duration(.timeout),
                              maxConsecutiveErrors: count(.maxErrors)),
            cellTimeout: duration(.cellTimeout) ?? .seconds(120))
    }
}

/// Limits ready for the engine.
struct ResolvedLimits {
    var limits: RLMLimits
    var budget: RLMBudget
    var cellTimeout: Duration
}
