import Foundation
import RLMBench
import RLMKit
import Synchronization
import Testing

/// A base model that answers from the prompt as the simulated server's model does, and counts its calls.
final class CountingModel: LanguageModel, Sendable {
    let calls = Mutex(0)
    var name: String { "counting" }
    var endpointDescription: String { "in-process" }

    func complete(_ request: ModelRequest) async throws -> ModelResponse {
        calls.withLock { $0 += 1 }
        let prompt = request.messages.last?.content ?? ""
        let needle = prompt.firstMatch(of: /special magic number for \S+ is (\d+)/)?.output.1
        return ModelResponse(text: needle.map(String.init) ?? "not found", usage: TokenUsage(inputTokens: prompt.count / 4, outputTokens: 2),
                             model: name)
    }

    func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        try await complete(request)
    }

    func withModelName(_ name: String) -> any LanguageModel { self }
    func discoverContextWindow() async -> DiscoveredContextWindow? { nil }
}

struct RunnerTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-run-\(UUID().uuidString.prefix(8))")

    @Test func resumeSkipsFinishedTasksAndKeepsTheirLines() async throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = CountingModel()
        let tasks = (0..<4).map { NIAHGenerator.make(seed: 1, sizeTokens: 2_000, index: $0, count: 4) }
        let runner = BenchRunner(rlm: RLM(rootModel: model), baseModel: model, baseWindowTokens: 4_000, methods: [.base])
        let url = folder.appendingPathComponent("results.jsonl")

        // An interrupted run: two tasks answered, then a line torn by the kill.
        let first = try BenchResultsFile(url: url, resume: false)
        _ = try await runner.run(Array(tasks.prefix(2)), into: first, skipping: [])
        try await first.close()
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"task\": \"niah-2000-2\", \"sco".utf8))
        try handle.close()
        #expect(model.calls.withLock { $0 } == 2)

        let finished = BenchResultsFile.load(url)
        #expect(finished.count == 2)
        let done = Set(finished.map { BenchRunner.key(task: $0.task, method: $0.method) })
        let resumed = try BenchResultsFile(url: url, resume: true)
        let new = try await runner.run(tasks, into: resumed, skipping: done)
        try await resumed.close()
        #expect(model.calls.withLock { $0 } == 4, "only the two unfinished tasks ran again")
        #expect(new.map(\.task) == ["niah-2000-2", "niah-2000-3"])
        let all = BenchResultsFile.load(url)
        #expect(all.map(\.task) == ["niah-2000-0", "niah-2000-1", "niah-2000-2", "niah-2000-3"])
        #expect(all.allSatisfy { $0.score == 1 && $0.status == "answered" && $0.tokens["counting"] != nil })
    }

    @Test func theBaseModelIsToldWhenItsInputWasCut() async throws {
        let task = NIAHGenerator.make(seed: 1, sizeTokens: 8_000, index: 1, count: 2)
        let (prompt, truncated) = BasePrompt.make(task, windowTokens: 1_000)
        #expect(truncated)
        #expect(prompt.contains("The input was cut to its first 4000 of"))
        guard case .exact(let value) = task.gold else { Issue.record("not exact"); return }
        #expect(!prompt.contains(value), "the needle sits at the end, past the cut")
        let (whole, cut) = BasePrompt.make(task, windowTokens: 10_000)
        #expect(!cut)
        #expect(whole.contains(value))
    }

    @Test func summaryAndPlotShowBothMethodsPerSize() {
        func record(_ size: Int, _ method: BenchMethod, _ score: Double, _ seconds: Double) -> BenchRecord {
            BenchRecord(task: NIAHGenerator.make(seed: 1, sizeTokens: size, index: 0, count: 1), method: method, score: score,
                        prediction: "", tokens: ["m": BenchTokens(input: 100, output: 10)], costUSD: 0.01, wallSeconds: seconds,
                        turns: 1, subCalls: 0, status: "answered")
        }
        let records = [record(1_000, .base, 1, 1), record(1_000, .base, 0, 3), record(1_000, .rlm, 1, 2),
                       record(4_000, .base, 0, 1), record(4_000, .rlm, 1, 5)]
        let rows = BenchSummary.rows(records)
        #expect(rows.count == 4)
        #expect(rows[0].method == .base && rows[0].meanScore == 0.5 && rows[0].p50Seconds == 1 && rows[0].p95Seconds == 3)
        let markdown = BenchSummary.markdown(records, title: "t")
        #expect(markdown.contains("| 1k | base | 2 | 0.500 | 110 | $0.0100 | 1.00 s | 3.00 s |"))
        let svg = BenchPlot.svg(records, title: "t")
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.components(separatedBy: "<polyline").count == 5, "two lines (base, RLM) in each of two charts")
        #expect(svg.contains("cost per task (USD)"))
    }

    @Test func percentilesUseTheNearestRank() {
        let values = (1...20).map(Double.init)
        #expect(BenchSummary.percentile(values, 0.5) == 10)
        #expect(BenchSummary.percentile(values, 0.95) == 19)
        #expect(BenchSummary.percentile([4], 0.95) == 4)
    }
}
