import Foundation
import ModelSimulator
import RLMBench
import Testing

/// `rlm bench` records what the caches did, through the real binary: prompt tokens the provider read from its cache
/// (and the cost at the discounted price), and the sub-call cache's hits.
@Suite(.serialized) struct BenchCacheTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-cache-\(UUID().uuidString.prefix(8))")

    func records(_ folder: URL) -> [[String: Any]] {
        let text = (try? String(contentsOf: folder.appendingPathComponent("results.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test(.timeLimit(.minutes(3))) func cachedPromptTokensAreRecordedAndBilledAtTheDiscount() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // An OpenAI-wire server with OpenAI's automatic prompt cache, answering the base prompt's needle.
        let server = try await ModelSimulator.start(models: ["gpt-5"], promptCaching: .providers) { request in
            let needle = request.lastUserText.firstMatch(of: /special magic number for \S+ is (\d+)/)?.output.1
            return SimulatedReply(text: needle.map(String.init) ?? "not found")
        }
        defer { Task { await server.shutdown() } }
        let arguments = ["bench", "niah", "--only", "base", "--sizes", "8k", "--tasks", "2", "--base-url", server.baseURL,
                         "--model", "gpt-5", "--quiet"]
        let (first, second) = (root.appendingPathComponent("first"), root.appendingPathComponent("second"))
        let cold = try await CLI.run(arguments + ["--out", first.path])
        #expect(cold.exitCode == 0, "stderr: \(cold.stderr)")
        // The same prompts again: the provider serves their prefixes from its cache.
        let warm = try await CLI.run(arguments + ["--out", second.path])
        #expect(warm.exitCode == 0, "stderr: \(warm.stderr)")
        let (before, after) = (records(first), records(second))
        #expect(before.count == 2 && after.count == 2)
        for (a, b) in zip(before, after) {
            let coldTokens = try #require((a["tokens"] as? [String: Any])?["gpt-5"] as? [String: Int], "\(a)")
            let warmTokens = try #require((b["tokens"] as? [String: Any])?["gpt-5"] as? [String: Int], "\(b)")
            #expect(coldTokens["cache_read"] == 0)
            let read = try #require(warmTokens["cache_read"])
            #expect(read >= 1_024 && read <= warmTokens["input"]!, "\(warmTokens)")
            #expect(warmTokens["input"] == coldTokens["input"] && warmTokens["output"] == coldTokens["output"])
            // GPT-5: $1.25 per million input tokens, $0.125 cached: each cached token saves $1.125 per million.
            let (coldCost, warmCost) = (try #require(a["cost_usd"] as? Double), try #require(b["cost_usd"] as? Double))
            #expect(abs((coldCost - warmCost) - Double(read) * 1.125 / 1_000_000) < 1e-12, "\(coldCost) \(warmCost) \(read)")
        }
        #expect(warm.stdout.contains("read from the provider's prompt cache"), "\(warm.stdout)")
        #expect(!cold.stdout.contains("prompt cache"))
    }

    @Test(.timeLimit(.minutes(3))) func aSecondRunWithTheSubcallCacheRecordsItsHits() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // The bench's scripted model on one server for both runs: the cache matches sub-calls by endpoint too.
        let server = try await ModelSimulator.start(models: [BenchSimulatedModel.rootName, BenchSimulatedModel.subName]) {
            BenchSimulatedModel.reply(to: $0)
        }
        defer { Task { await server.shutdown() } }
        let cache = root.appendingPathComponent("subcalls")
        let arguments = ["bench", "oolong", "--base-url", server.baseURL, "--model", BenchSimulatedModel.rootName,
                         "--sub-model", BenchSimulatedModel.subName, "--model-window", "32000", "--sub-window", "32000",
                         "--only", "rlm", "--sizes", "2k", "--tasks", "2", "--sandbox", "basic", "--quiet",
                         "--subcall-cache", "--subcall-cache-dir", cache.path]
        let (first, second) = (root.appendingPathComponent("first"), root.appendingPathComponent("second"))
        let cold = try await CLI.run(arguments + ["--out", first.path])
        #expect(cold.exitCode == 0, "stderr: \(cold.stderr)")
        let requests = server.requestCount
        let warm = try await CLI.run(arguments + ["--parallel", "2", "--out", second.path])
        #expect(warm.exitCode == 0, "stderr: \(warm.stderr)")
        #expect(server.requestCount - requests == 4, "the second run sent its two root turns per task, no sub-call")
        let coldTallies = records(first).compactMap { $0["subcall_cache"] as? [String: Any] }
        let warmTallies = records(second).compactMap { $0["subcall_cache"] as? [String: Any] }
        #expect(coldTallies.count == 2 && warmTallies.count == 2)
        #expect(coldTallies.allSatisfy { ($0["misses"] as? Int ?? 0) >= 1 && $0["hits"] as? Int == 0 }, "\(coldTallies)")
        #expect(warmTallies.allSatisfy { ($0["hits"] as? Int ?? 0) >= 1 && $0["misses"] as? Int == 0 && ($0["tokens_saved"] as? Int ?? 0) > 0 },
                "\(warmTallies)")
        #expect(records(second).allSatisfy { $0["score"] as? Double == 1 }, "answers from the cache score as before")
        #expect(warm.stdout.contains("sub-call cache:") && warm.stdout.contains(" 0 misses"), "\(warm.stdout)")
        // Without the flag the records carry no tally.
        let off = try await CLI.run(arguments.filter { !$0.hasPrefix("--subcall-cache") && $0 != cache.path }
                                    + ["--out", root.appendingPathComponent("off").path])
        #expect(off.exitCode == 0)
        #expect(records(root.appendingPathComponent("off")).allSatisfy { $0["subcall_cache"] == nil })
    }
}
