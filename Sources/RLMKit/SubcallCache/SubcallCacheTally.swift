import Foundation

/// What the sub-call cache did for one run: hits, misses and what the hits saved. `--json` reports it as
/// `subcall_cache`, the trajectory log in `run_finished.details.subcall_cache`, the viewer in its summary.
public struct SubcallCacheTally: Sendable, Codable, Equatable {
    /// Sub-calls answered without a request: from disk, or from an identical call in flight.
    public var hits = 0
    /// Sub-calls the cache could not answer, sent to the server.
    public var misses = 0
    /// Input plus output tokens the hits would have cost, as their original replies counted them.
    public var tokensSaved = 0
    /// What the hits would have cost at list price; nil when a model they used has no price.
    public var costSavedUSD: Double? = 0

    public init(hits: Int = 0, misses: Int = 0, tokensSaved: Int = 0, costSavedUSD: Double? = 0) {
        self.hits = hits
        self.misses = misses
        self.tokensSaved = tokensSaved
        self.costSavedUSD = costSavedUSD
    }

    /// The tally of a run's `subcall_finished` events (see docs/caching.md for their `details`).
    init(events: [RLMEvent], prices: PriceTable) {
        for event in events where event.event == .subCallFinished {
            switch event.details?[SubcallCacheLog.state] {
            case .string(SubcallCacheLog.hit)?:
                hits += 1
                let saved = event.details?[SubcallCacheLog.savedUsage].flatMap(SubcallCacheLog.usage(from:)) ?? TokenUsage()
                tokensSaved += saved.totalTokens
                if let price = event.model.flatMap(prices.price(for:)) {
                    costSavedUSD = costSavedUSD.map { $0 + price.cost(of: saved) }
                } else {
                    costSavedUSD = nil
                }
            case .string(SubcallCacheLog.miss)?:
                misses += 1
            default:
                break
            }
        }
    }

    /// The tally as `run_finished` logs it.
    var json: JSONValue {
        var fields: [String: JSONValue] = ["hits": .number(Double(hits)), "misses": .number(Double(misses)),
                                           "tokens_saved": .number(Double(tokensSaved))]
        fields["cost_saved_usd"] = costSavedUSD.map { .number($0) } ?? .null
        return .object(fields)
    }

    enum CodingKeys: String, CodingKey {
        case hits, misses
        case tokensSaved = "tokens_saved"
        case costSavedUSD = "cost_saved_usd"
    }
}

/// The `details` a sub-call's `subcall_finished` event carries when the cache is on (docs/caching.md).
enum SubcallCacheLog {
    /// `"hit"` or `"miss"`.
    static let state = "cache"
    static let hit = "hit"
    static let miss = "miss"
    /// For a hit: `"disk"` or `"in_flight"`.
    static let source = "cache_source"
    /// For a hit: the original reply's `input_tokens` and `output_tokens`, which this run did not spend.
    static let savedUsage = "saved_usage"
    /// For a miss whose reply was not stored: why.
    static let note = "cache_note"

    static func details(hitFrom source: SubcallCache.Source, saved usage: TokenUsage) -> [String: JSONValue] {
        [state: .string(hit), Self.source: .string(source.rawValue),
         savedUsage: .object(["input_tokens": .number(Double(usage.inputTokens)),
                              "output_tokens": .number(Double(usage.outputTokens))])]
    }

    static func details(missNote: String?) -> [String: JSONValue] {
        var details: [String: JSONValue] = [state: .string(miss)]
        if let missNote { details[note] = .string(missNote) }
        return details
    }

    static func usage(from value: JSONValue) -> TokenUsage? {
        guard case .object(let fields) = value, case .number(let input)? = fields["input_tokens"],
              case .number(let output)? = fields["output_tokens"] else { return nil }
        return TokenUsage(inputTokens: Int(input), outputTokens: Int(output))
    }
}

extension SubcallCacheTally {
    /// Where `run_finished` keeps the tally in its `details`.
    static let detailsKey = "subcall_cache"
}

extension RLMResult {
    /// What the sub-call cache did in this run; nil when the run had no cache (or failed before its end).
    public var subcallCache: SubcallCacheTally? {
        guard let value = trajectory.last(where: { $0.event == .runFinished })?.details?[SubcallCacheTally.detailsKey],
              let data = try? JSONEncoder().encode(value) else { return nil }
        return try? JSONDecoder().decode(SubcallCacheTally.self, from: data)
    }
}
