import Foundation
import RLMKit

/// Runs each task with each method (base model and RLM), scores it, and appends a record as soon as it is known.
public struct BenchRunner: Sendable {
    /// The RLM, configured as for `rlm ask`.
    public var rlm: RLM
    /// The base model: the RLM's root model, asked directly.
    public var baseModel: any LanguageModel
    /// Tokens of input the base model is given; longer inputs are cut with a note.
    public var baseWindowTokens: Int
    public var methods: [BenchMethod]
    /// The results folder: each RLM run's trajectory goes to `trajectories/TASK.jsonl` in it; nil writes none.
    public var resultsDirectory: URL?

    public init(rlm: RLM, baseModel: any LanguageModel, baseWindowTokens: Int, methods: [BenchMethod],
                resultsDirectory: URL? = nil) {
        self.rlm = rlm
        self.baseModel = baseModel
        self.baseWindowTokens = baseWindowTokens
        self.methods = methods
        self.resultsDirectory = resultsDirectory
    }

    /// Where the trajectory of `task`'s RLM run goes, relative to the results folder.
    static func trajectoryPath(task: String) -> String {
        let safe = task.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }
        return "trajectories/" + String(safe) + ".jsonl"
    }

    /// What a run reports as it goes: a (task, method) started, or its record written.
    public enum Event: Sendable {
        case started(task: String, method: BenchMethod)
        case finished(BenchRecord)
    }

    /// Runs every (task, method) not in `done` (keys from ``key(task:method:)``), `parallel` tasks at a time (each
    /// task's methods one after the other), and appends each record to `results` once it is scored. Every run
    /// keeps its own limits and budget; only ``RLM/modelCallLimiter``, when set, is shared. Returns the new records
    /// in task order.
    public func run(_ tasks: [BenchTask], into results: BenchResultsFile, skipping done: Set<String>, parallel: Int = 1,
                    onEvent: @escaping @Sendable (Event) -> Void = { _ in }) async throws -> [BenchRecord] {
        let work = tasks.enumerated().compactMap { position, task -> (Int, BenchTask, [BenchMethod])? in
            let remaining = methods.filter { !done.contains(Self.key(task: task.id, method: $0)) }
            return remaining.isEmpty ? nil : (position, task, remaining)
        }
        var finished: [(position: Int, records: [BenchRecord])] = []
        try await withThrowingTaskGroup(of: (Int, [BenchRecord]).self) { group in
            var next = work.makeIterator()
            func startNext() -> Bool {
                guard !Task.isCancelled, let (position, task, methods) = next.next() else { return false }
                group.addTask {
                    var records: [BenchRecord] = []
                    for method in methods where !Task.isCancelled {
                        onEvent(.started(task: task.id, method: method))
                        let record = method == .base ? await runBase(task) : await runRLM(task)
                        try await results.append(record)
                        records.append(record)
                        onEvent(.finished(record))
                    }
                    return (position, records)
                }
                return true
            }
            for _ in 0..<max(1, parallel) {
                guard startNext() else { break }
            }
            while let done = try await group.next() {
                finished.append(done)
                _ = startNext()
            }
        }
        try Task.checkCancellation()
        return finished.sorted { $0.position < $1.position }.flatMap(\.records)
    }

    /// The key of a finished (task, method), as `--resume` matches it.
    public static func key(task: String, method: BenchMethod) -> String { "\(task)|\(method.rawValue)" }

    func runBase(_ task: BenchTask) async -> BenchRecord {
        let (prompt, truncated) = BasePrompt.make(task, windowTokens: baseWindowTokens)
        let started = ContinuousClock.now
        do {
            let reply = try await baseModel.complete(ModelRequest(messages: [.system(BasePrompt.system), .user(prompt)]))
            let tokens = BenchTokens(reply.usage)
            let cost = rlm.prices.price(for: baseModel.name)?.cost(of: reply.usage)
            return BenchRecord(task: task, method: .base, score: BenchScorer.score(reply.text, against: task.gold),
                               prediction: reply.text, tokens: [baseModel.name: tokens], costUSD: cost,
                               wallSeconds: (ContinuousClock.now - started).seconds, turns: 1, subCalls: 0, status: "answered",
                               truncated: truncated)
        } catch {
            return BenchRecord(task: task, method: .base, score: 0, prediction: "", tokens: [:], costUSD: nil,
                               wallSeconds: (ContinuousClock.now - started).seconds, turns: 1, subCalls: 0, status: "failed",
                               error: String(describing: error), truncated: truncated)
        }
    }

    func runRLM(_ task: BenchTask) async -> BenchRecord {
        let context: RLMContext = switch task.context {
        case .text(let text): .text(text)
        case .directory(let path): .directory(URL(fileURLWithPath: path))
        }
        var rlm = self.rlm
        let trajectory = resultsDirectory.map { _ in Self.trajectoryPath(task: task.id) }
        if let resultsDirectory, let trajectory {
            let url = resultsDirectory.appendingPathComponent(trajectory)
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            rlm.logURL = url
        }
        let started = ContinuousClock.now
        var outcome: BenchRecord
        do {
            outcome = record(task, try await rlm.complete(query: task.question, context: context), error: nil)
        } catch let failure as RLMRunFailure {
            outcome = record(task, failure.partial, error: String(describing: failure.error))
        } catch {
            outcome = BenchRecord(task: task, method: .rlm, score: 0, prediction: "", tokens: [:], costUSD: nil,
                                  wallSeconds: (ContinuousClock.now - started).seconds, turns: 0, subCalls: 0, status: "failed",
                                  error: String(describing: error))
        }
        if let resultsDirectory, let trajectory,
           FileManager.default.fileExists(atPath: resultsDirectory.appendingPathComponent(trajectory).path) {
            outcome.trajectory = trajectory
        }
        return outcome
    }

    func record(_ task: BenchTask, _ result: RLMResult, error: String?) -> BenchRecord {
        var record = BenchRecord(task: task, method: .rlm, score: BenchScorer.score(result.answer, against: task.gold),
                                 prediction: result.answer, tokens: result.usageByModel.mapValues { BenchTokens($0.tokens) },
                                 costUSD: result.costUSD, wallSeconds: result.wallSeconds, turns: result.iterations,
                                 subCalls: result.subCalls, status: error == nil ? result.status.rawValue : "failed",
                                 error: error ?? result.stopReason)
        record.subcallCache = result.subcallCache
        return record
    }
}
