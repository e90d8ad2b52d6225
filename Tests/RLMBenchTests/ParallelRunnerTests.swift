import Foundation
import RLMBench
import RLMKit
import Synchronization
import Testing

/// A base model that holds each call until `width` calls are in flight together (or a deadline passes), and keeps
/// the most it ever saw at once.
final class GatedModel: LanguageModel, Sendable {
    let width: Int
    private let state = Mutex((inFlight: 0, peak: 0))
    init(width: Int) { self.width = width }
    var name: String { "gated" }
    var endpointDescription: String { "in-process" }
    var peak: Int { state.withLock { $0.peak } }

    func complete(_ request: ModelRequest) async throws -> ModelResponse {
        state.withLock {
            $0.inFlight += 1
            $0.peak = max($0.peak, $0.inFlight)
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        let deadline = ContinuousClock.now + .seconds(20)
        while state.withLock({ $0.peak }) < width && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let prompt = request.messages.last?.content ?? ""
        let needle = prompt.firstMatch(of: /special magic number for \S+ is (\d+)/)?.output.1
        return ModelResponse(text: needle.map(String.init) ?? "not found",
                             usage: TokenUsage(inputTokens: prompt.count / 4, outputTokens: 2), model: name)
    }

    func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        try await complete(request)
    }

    func withModelName(_ name: String) -> any LanguageModel { self }
    func discoverContextWindow() async -> DiscoveredContextWindow? { nil }
}

final class StartedTasks: Sendable {
    let ids = Mutex<[String]>([])
}

struct ParallelRunnerTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-parallel-\(UUID().uuidString.prefix(8))")

    func run(parallel: Int, model: GatedModel, tasks: [BenchTask],
             onStart: @escaping @Sendable (String) -> Void = { _ in }) async throws -> [BenchRecord] {
        let url = folder.appendingPathComponent("results-\(parallel).jsonl")
        let results = try BenchResultsFile(url: url, resume: false)
        let runner = BenchRunner(rlm: RLM(rootModel: model), baseModel: model, baseWindowTokens: 1_000, methods: [.base])
        let records = try await runner.run(tasks, into: results, skipping: [], parallel: parallel) { event in
            if case .started(let task, _) = event { onStart(task) }
        }
        try await results.close()
        #expect(BenchResultsFile.load(url).count == tasks.count, "one complete line per task")
        return records
    }

    @Test(.timeLimit(.minutes(1))) func tasksRunThreeAtATimeAndScoreAsInSequence() async throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tasks = (0..<9).map { NIAHGenerator.make(seed: 3, sizeTokens: 1_000 + 100 * $0, index: $0, count: 9) }
        let sequential = try await run(parallel: 1, model: GatedModel(width: 1), tasks: tasks)
        let gated = GatedModel(width: 3)
        let started = StartedTasks()
        let parallel = try await run(parallel: 3, model: gated, tasks: tasks) { id in started.ids.withLock { $0.append(id) } }
        // Three were in flight together (each call waited for the others), never four.
        #expect(gated.peak == 3)
        #expect(Set(started.ids.withLock { $0 }) == Set(tasks.map(\.id)))
        // The same records, in task order, apart from the time each took.
        func timeless(_ records: [BenchRecord]) -> [BenchRecord] { records.map { var r = $0; r.wallSeconds = 0; return r } }
        #expect(timeless(parallel) == timeless(sequential))
        #expect(parallel.map { $0.task } == tasks.map { $0.id })
    }
}
