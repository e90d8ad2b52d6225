import Foundation
import RLMBench
import RLMKit
import Testing

/// A results.jsonl line keeps the cached tokens and the sub-call cache's tally, and lines written before them read.
struct RecordCodingTests {
    @Test func cachedTokensAndCacheHitsSurviveTheResultsFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-coding-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var record = BenchRecord(task: NIAHGenerator.make(seed: 1, sizeTokens: 1_000, index: 0, count: 1), method: .rlm, score: 1,
                                 prediction: "p", tokens: ["m": BenchTokens(TokenUsage(inputTokens: 2_000, outputTokens: 9,
                                                                                      cacheReadTokens: 1_536, cacheWriteTokens: 64))],
                                 costUSD: 0.01, wallSeconds: 1, turns: 2, subCalls: 3, status: "answered")
        record.subcallCache = SubcallCacheTally(hits: 2, misses: 1, tokensSaved: 300, costSavedUSD: 0.002)
        let url = folder.appendingPathComponent("results.jsonl")
        try BenchResultsFile.write([record], to: url)
        let line = try String(contentsOf: url, encoding: .utf8)
        #expect(line.contains("\"cache_read\":1536") && line.contains("\"cache_write\":64"), "\(line)")
        #expect(line.contains("\"subcall_cache\":{"), "\(line)")
        #expect(BenchResultsFile.load(url) == [record])
        // The summary says what the caches did.
        let summary = BenchSummary.markdown([record], title: "t")
        #expect(summary.contains("Caches, rlm: 1536 of 2000 input tokens (76.8%) read from the provider's prompt cache, 64 written; "
                                 + "sub-call cache: 2 hits, 1 misses, 300 tokens saved ($0.0020)."), "\(summary)")
        // A line from before: no cache fields, read as none.
        let old = #"{"task":"niah-1000-0","suite":"niah","size_tokens":1000,"method":"base","score":1,"prediction":"1","expected":"1","tokens":{"m":{"input":5,"output":1}},"cost_usd":null,"wall_seconds":0.1,"turns":1,"sub_calls":0,"status":"answered"}"#
        let decoded = try JSONDecoder().decode(BenchRecord.self, from: Data(old.utf8))
        #expect(decoded.tokens["m"] == BenchTokens(input: 5, output: 1))
        #expect(decoded.subcallCache == nil)
        #expect(!BenchSummary.markdown([decoded], title: "t").contains("Caches"))
    }
}
