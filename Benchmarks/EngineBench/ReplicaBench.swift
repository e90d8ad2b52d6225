import Foundation
import ModelSimulator
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `EngineBench --replicas`: one `llm_query_batched` spread by `rlm ask` over three simulated replicas of the sub
/// model (`--sub-base-url a,b,c`, `--sub-replica-concurrency C`), healthy and with the third shut down when it has
/// served `--die-after` calls. Prints the calls each replica received and answered, and the batch's wall time
/// inside the REPL beside the ideal for the combined concurrency (`ceil(N / 3C) × latency` while all three serve,
/// then `ceil(rest / 2C) × latency`).
///
///   swift run -c release EngineBench --replicas [--runs 3] [--calls 480] [--concurrency 8] [--latency-ms 100] [--die-after 80]
struct ReplicaBench {
    var runs = 3
    var calls = 480
    var perReplica = 8
    var latencyMS = 100
    var dieAfter = 80
    let rlmBinary: String

    init(arguments: [String], rlmBinary: String) {
        self.rlmBinary = rlmBinary
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next().flatMap(Int.init) ?? 0
            switch flag {
            case "--runs": runs = value
            case "--calls": calls = value
            case "--concurrency": perReplica = value
            case "--latency-ms": latencyMS = value
            case "--die-after": dieAfter = value
            default: print("unknown flag \(flag)"); exit(2)
            }
        }
    }

    func run() async throws {
        print("| scenario | calls received per replica | calls answered per replica | failed calls | batch wall time (median of \(runs)) | ideal | ratio |")
        print("|---|---|---|---|---|---|---|")
        try await measure(failing: false)
        try await measure(failing: true)
    }

    /// The ideal wall time: waves of the combined concurrency while three replicas serve, then of two.
    func ideal(failing: Bool) -> Double {
        let latency = Double(latencyMS) / 1000
        guard failing else { return ceil(Double(calls) / Double(3 * perReplica)) * latency }
        let beforeDeath = 3 * dieAfter
        return ceil(Double(beforeDeath) / Double(3 * perReplica)) * latency
            + ceil(Double(calls - beforeDeath) / Double(2 * perReplica)) * latency
    }

    private func measure(failing: Bool) async throws {
        var times: [Double] = []
        var received: [[Int]] = []
        var answered: [[Int]] = []
        var failed: [Int] = []
        for _ in 0..<runs {
            let outcome = try await once(failing: failing)
            times.append(outcome.seconds)
            received.append(outcome.received)
            answered.append(outcome.answered)
            failed.append(outcome.failed)
        }
        let middle = times.indices.sorted { times[$0] < times[$1] }[times.count / 2]
        let ideal = ideal(failing: failing)
        let name = failing ? "third replica shut down after \(dieAfter) calls" : "three healthy replicas"
        print("| \(name) | \(received[middle].map(String.init).joined(separator: " / ")) | \(answered[middle].map(String.init).joined(separator: " / ")) | \(failed[middle]) | \(String(format: "%.3f", times[middle])) s (all: \(times.map { String(format: "%.2f", $0) }.joined(separator: ", "))) | \(String(format: "%.2f", ideal)) s | \(String(format: "%.2f", times[middle] / ideal)) |")
    }

    private func once(failing: Bool) async throws -> (seconds: Double, received: [Int], answered: [Int], failed: Int) {
        let latency = Duration.milliseconds(latencyMS)
        let third = Mutex<ModelSimulator?>(nil)
        let seenByThird = Mutex(0)
        var replicas: [ModelSimulator] = []
        for index in 0..<3 {
            let dieAfter = failing && index == 2 ? self.dieAfter : nil
            replicas.append(try await ModelSimulator.start(models: ["sub"]) { request in
                if let dieAfter, seenByThird.withLock({ $0 += 1; return $0 }) == dieAfter + 1, let server = third.withLock({ $0 }) {
                    // The call after its last one finds it gone: it stops listening and drops its connections.
                    Task { await server.shutdown() }
                    return .hangUp()
                }
                return SimulatedReply(text: "r\(index)", delay: latency)
            })
        }
        third.withLock { $0 = replicas[2] }
        let calls = self.calls
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
        let result = try await Subprocess.run(
            .path(FilePath(rlmBinary)),
            arguments: Arguments(["ask", "benchmark", "--context", "-", "--json", "--no-log", "--quiet",
                                  "--sub-model", "sub", "--sub-base-url", replicas.map(\.baseURL).joined(separator: ","),
                                  "--sub-replica-concurrency", String(perReplica),
                                  "--max-concurrency", String(3 * perReplica)]),
            environment: .custom(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                  "HOME": NSTemporaryDirectory(), "RLM_BASE_URL": root.baseURL, "RLM_MODEL": "root"]),
            input: .string("tiny"), output: .string(limit: 1 << 24), error: .string(limit: 1 << 20))
        guard case .exited(0) = result.terminationStatus,
              let summary = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any],
              let answer = (summary["answer"] as? String).flatMap({ try? JSONSerialization.jsonObject(with: Data($0.utf8)) }) as? [String: Any],
              let seconds = answer["seconds"] as? Double, let answeredBy = answer["answered"] as? [Int],
              let failed = answer["failed"] as? Int else {
            print("(`rlm` run failed: \(result.terminationStatus) \(result.standardError.suffix(400)))")
            exit(1)
        }
        return (seconds, replicas.map(\.requestCount), answeredBy, failed)
    }
}
