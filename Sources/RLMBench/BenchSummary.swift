import Foundation
import RLMKit

/// Figures per input size and method, computed from the records of a run.
public struct BenchSummaryRow: Sendable, Equatable {
    public var sizeTokens: Int
    public var method: BenchMethod
    public var tasks: Int
    public var failed: Int
    public var meanScore: Double
    public var meanTokens: Double
    /// Mean cost per task; nil when some model had no price.
    public var meanCostUSD: Double?
    public var p50Seconds: Double
    public var p95Seconds: Double
    public var meanSubCalls: Double
}

public enum BenchSummary {
    public static func rows(_ records: [BenchRecord]) -> [BenchSummaryRow] {
        let groups = Dictionary(grouping: records) { GroupKey(size: $0.sizeTokens, method: $0.method) }
        return groups.keys.sorted { ($0.size, $0.method.rawValue) < ($1.size, $1.method.rawValue) }.map { key in
            let group = groups[key]!
            let count = Double(group.count)
            let costs = group.compactMap(\.costUSD)
            let times = group.map(\.wallSeconds).sorted()
            return BenchSummaryRow(sizeTokens: key.size, method: key.method, tasks: group.count,
                                   failed: group.filter { $0.status == "failed" }.count,
                                   meanScore: group.reduce(0) { $0 + $1.score } / count,
                                   meanTokens: Double(group.reduce(0) { $0 + $1.totalTokens }) / count,
                                   meanCostUSD: costs.count == group.count ? costs.reduce(0, +) / count : nil,
                                   p50Seconds: percentile(times, 0.5), p95Seconds: percentile(times, 0.95),
                                   meanSubCalls: Double(group.reduce(0) { $0 + $1.subCalls }) / count)
        }
    }

    struct GroupKey: Hashable {
        var size: Int
        var method: BenchMethod
    }

    /// Nearest-rank percentile of sorted values.
    public static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// The Markdown summary: one row per size and method.
    public static func markdown(_ records: [BenchRecord], title: String) -> String {
        var lines = ["# \(title)", "",
                     "| size | method | tasks | score | tokens / task | cost / task | p50 wall | p95 wall | sub-calls / task | failed |",
                     "|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows(records) {
            let cost = row.meanCostUSD.map { String(format: "$%.4f", $0) } ?? "no price"
            lines.append("| \(BenchSize.label(row.sizeTokens)) | \(row.method.rawValue) | \(row.tasks) | "
                         + String(format: "%.3f", row.meanScore) + " | \(Int(row.meanTokens.rounded())) | \(cost) | "
                         + String(format: "%.2f s | %.2f s | %.1f", row.p50Seconds, row.p95Seconds, row.meanSubCalls)
                         + " | \(row.failed) |")
        }
        lines.append("")
        lines.append("Score: mean over tasks (exact match, 0.75^|d| for counts, F1 for pairs). Tokens: every model, input "
                     + "and output. Wall: one task, start to answer.")
        let caches = cacheLines(records)
        if !caches.isEmpty { lines += [""] + caches }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line per method that used a cache: prompt tokens the provider read from (and wrote to) its cache, which
    /// the cost column already bills at the discounted prices, and the sub-call cache's hits, misses and savings.
    static func cacheLines(_ records: [BenchRecord]) -> [String] {
        BenchMethod.allCases.compactMap { method in
            let group = records.filter { $0.method == method }
            let tokens = group.flatMap(\.tokens.values)
            let (input, read, written) = tokens.reduce((0, 0, 0)) { ($0.0 + $1.input, $0.1 + $1.cacheRead, $0.2 + $1.cacheWrite) }
            let tallies = group.compactMap(\.subcallCache)
            var parts: [String] = []
            if read + written > 0 {
                parts.append("\(read) of \(input) input tokens (" + String(format: "%.1f%%", 100 * Double(read) / Double(max(input, 1)))
                             + ") read from the provider's prompt cache, \(written) written")
            }
            if !tallies.isEmpty {
                let saved = tallies.reduce(into: (hits: 0, misses: 0, tokens: 0, cost: Double?(0))) { total, tally in
                    total.hits += tally.hits
                    total.misses += tally.misses
                    total.tokens += tally.tokensSaved
                    total.cost = total.cost.flatMap { sum in tally.costSavedUSD.map { sum + $0 } }
                }
                parts.append("sub-call cache: \(saved.hits) hits, \(saved.misses) misses, \(saved.tokens) tokens saved"
                             + (saved.cost.map { String(format: " ($%.4f)", $0) } ?? ""))
            }
            return parts.isEmpty ? nil : "Caches, \(method.rawValue): " + parts.joined(separator: "; ") + "."
        }
    }
}
