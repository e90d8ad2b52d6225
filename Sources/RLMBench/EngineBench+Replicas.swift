import Foundation
import ModelSimulator
import Synchronization

extension EngineBench {
    /// Sub-calls spread by `rlm ask` over three simulated replicas of the sub model (`--sub-base-url a,b,c`), each
    /// with its own limit: once all healthy, once with the third shut down after it has served a share of the
    /// calls. Each figure is the batch's wall time inside the REPL beside the ideal for the combined concurrency
    /// (`ceil(N / 3C) × latency` while three serve, then `ceil(rest / 2C) × latency`), and says how many calls
    /// each replica received and answered.
    func replicas(onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        var figures: [EngineFigure] = []
        let calls = options.replicaCalls
        let perReplica = options.replicaConcurrency
        let dieAfter = calls / 6
        for failing in [false, true] {
            var seconds: [Double] = []
            var lastSplit = ""
            for _ in 0..<options.runs {
                let outcome = try await replicaBatch(calls: calls, perReplica: perReplica, dieAfter: failing ? dieAfter : nil)
                seconds.append(outcome.seconds)
                lastSplit = "received \(outcome.received.map(String.init).joined(separator: " / ")), answered "
                    + "\(outcome.answered.map(String.init).joined(separator: " / ")), failed \(outcome.failed)"
            }
            let latency = Double(options.latencyMS) / 1000
            let ideal = failing
                ? ceil(Double(3 * dieAfter) / Double(3 * perReplica)) * latency
                    + ceil(Double(calls - 3 * dieAfter) / Double(2 * perReplica)) * latency
                : ceil(Double(calls) / Double(3 * perReplica)) * latency
            let figure = EngineFigure(
                section: "replicas",
                measure: failing ? "\(calls) sub-calls, 3 replicas × \(perReplica), the third shut down after \(dieAfter) calls"
                                 : "\(calls) sub-calls, 3 healthy replicas × \(perReplica)",
                unit: "s", runs: seconds, ideal: ideal, note: lastSplit)
            figures.append(figure)
            onFigure(figure)
        }
        return figures
    }

    private func replicaBatch(calls: Int, perReplica: Int, dieAfter: Int?) async throws
        -> (seconds: Double, received: [Int], answered: [Int], failed: Int) {
        let latency = Duration.milliseconds(options.latencyMS)
        let third = Mutex<ModelSimulator?>(nil)
        let seenByThird = Mutex(0)
        var replicas: [ModelSimulator] = []
        for index in 0..<3 {
            let limit = index == 2 ? dieAfter : nil
            replicas.append(try await ModelSimulator.start(models: ["sub"]) { _ in
                if let limit, seenByThird.withLock({ $0 += 1; return $0 }) == limit + 1, let server = third.withLock({ $0 }) {
                    // The call after its last one finds it gone: it stops listening and drops its connections.
                    Task { await server.shutdown() }
                    return .hangUp()
                }
                return SimulatedReply(text: "r\(index)", delay: latency)
            })
        }
        third.withLock { $0 = replicas[2] }
        let root = try await ModelSimulator.start(models: ["root"]) { request in
            SimulatedReply(text: request.assistantTurns == 0 ? """
                ```repl
                import time, json
                t = time.perf_counter()
                answers = llm_query_batched(['item %d' % i for i in range(\(calls))])
                elapsed = time.perf_counter() - t
                ```
                """ : """
                ```repl
                FINAL(json.dumps({'seconds': elapsed, 'answered': [answers.count('r%d' % i) for i in range(3)], 'failed': sum(a.startswith('Error') for a in answers)}))
                ```
                """)
        }
        let servers = [root] + replicas
        defer { Task { for server in servers { await server.shutdown() } } }
        let outcome = try await ask(baseURL: root.baseURL, context: "-",
                                    extra: ["--sub-model", "sub", "--sub-base-url", replicas.map(\.baseURL).joined(separator: ","),
                                            "--sub-replica-concurrency", String(perReplica),
                                            "--max-concurrency", String(3 * perReplica)],
                                    input: "tiny")
        guard let text = outcome.summary["answer"] as? String,
              let answer = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let seconds = answer["seconds"] as? Double, let answeredBy = answer["answered"] as? [Int],
              let failed = answer["failed"] as? Int else {
            throw BenchInputError("the replica run did not answer with its timing: \(outcome.summary["answer"] ?? "no answer")")
        }
        return (seconds, replicas.map(\.requestCount), answeredBy, failed)
    }
}
