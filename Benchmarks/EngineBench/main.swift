// Engine benchmark: measures the orchestration itself (start-up with a huge context, sub-call overhead,
// batch fan-out) by running the real `rlm` binary against the local model simulator.
//
//   swift build -c release && swift run -c release EngineBench [--context-mb 400] [--runs 3]
//   swift run -c release EngineBench --fanout [--runs 3]      (sub-call fan-out against three servers)
//   swift run -c release EngineBench --replicas [--runs 3]    (sub-calls over three replicas, one failing midway)
import Foundation
import ModelSimulator
import RLMKit
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

struct Options {
    var contextMB = 400
    var runs = 3
    var batchSize = 200
    var concurrency = 16
    var latencyMS = 100
    var roundTrips = 300

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next().flatMap(Int.init) ?? 0
            switch flag {
            case "--context-mb": contextMB = value
            case "--runs": runs = value
            case "--batch": batchSize = value
            case "--concurrency": concurrency = value
            case "--latency-ms": latencyMS = value
            case "--round-trips": roundTrips = value
            default: print("unknown flag \(flag)"); exit(2)
            }
        }
    }
}

let rlmBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rlm").path
guard FileManager.default.isExecutableFile(atPath: rlmBinary) else {
    print("rlm binary not found next to the benchmark at \(rlmBinary); run `swift build -c release` first.")
    exit(2)
}
if CommandLine.arguments.dropFirst().first == "--fanout" {
    try await FanOutBench(arguments: Array(CommandLine.arguments.dropFirst(2)), rlmBinary: rlmBinary).run()
    exit(0)
}
if CommandLine.arguments.dropFirst().first == "--replicas" {
    try await ReplicaBench(arguments: Array(CommandLine.arguments.dropFirst(2)), rlmBinary: rlmBinary).run()
    exit(0)
}
let options = Options(arguments: CommandLine.arguments)

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func fmt(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

/// Runs `rlm ask --json` and returns its summary and wall time.
func runAsk(baseURL: String, context: String, extra: [String] = []) async throws -> (summary: [String: Any], seconds: Double, started: ContinuousClock.Instant) {
    let started = ContinuousClock.now
    let result = try await Subprocess.run(
        .path(FilePath(rlmBinary)),
        arguments: Arguments(["ask", "benchmark", "--context", context, "--json", "--no-log", "--quiet"] + extra),
        environment: .custom(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                              "HOME": NSTemporaryDirectory(), "RLM_BASE_URL": baseURL, "RLM_MODEL": "root"]),
        output: .string(limit: 1 << 24), error: .string(limit: 1 << 20))
    let seconds = (ContinuousClock.now - started).seconds
    guard case .exited(0) = result.terminationStatus,
          let data = result.standardOutput.data(using: .utf8),
          let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        print("rlm failed: \(result.terminationStatus)\n\(result.standardError)")
        exit(1)
    }
    return (summary, seconds, started)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func writeContext(megabytes: Int) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-\(megabytes)mb.txt")
    if let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int, size >= megabytes << 20 {
        return url
    }
    _ = FileManager.default.createFile(atPath: url.path, contents: nil)
    let handle = try FileHandle(forWritingTo: url)
    var block = ""
    for index in 0..<10_000 {
        block += "record \(index): user_\(index % 977) reported status \(index % 13 == 0 ? "failed" : "ok") at step \(index * 31 % 1000)\n"
    }
    let data = Data(block.utf8)
    var written = 0
    while written < megabytes << 20 {
        try handle.write(contentsOf: data)
        written += data.count
    }
    try handle.close()
    return url
}

// 1. Start-up with a huge context: time to the first root request, and peak memory.
print("## Start-up with a \(options.contextMB) MB context (\(options.runs) runs)")
let bigContext = try writeContext(megabytes: options.contextMB)
let finalNow = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: "```repl\nFINAL(len(context))\n```") }
var firstRequest: [Double] = []
var hostRSS: [Double] = []
var replRSS: [Double] = []
var totals: [Double] = []
for _ in 0..<options.runs {
    finalNow.resetCounters()
    let (summary, seconds, started) = try await runAsk(baseURL: finalNow.baseURL, context: bigContext.path)
    firstRequest.append((finalNow.firstRequestAt! - started).seconds)
    hostRSS.append(Double(summary["host_peak_rss_bytes"] as? Int ?? 0) / 1_048_576)
    replRSS.append(Double(summary["repl_peak_rss_bytes"] as? Int ?? 0) / 1_048_576)
    totals.append(seconds)
}
await finalNow.shutdown()
print("| measure | median | runs |")
print("|---|---|---|")
print("| `rlm ask` start → first root-model request | \(fmt(median(firstRequest))) s | \(firstRequest.map { fmt($0) }.joined(separator: ", ")) |")
print("| whole run (one turn, answer = len(context)) | \(fmt(median(totals))) s | \(totals.map { fmt($0) }.joined(separator: ", ")) |")
print("| peak RSS of the `rlm` host process | \(fmt(median(hostRSS), 1)) MiB | \(hostRSS.map { fmt($0, 1) }.joined(separator: ", ")) |")
print("| peak RSS of the Python REPL process | \(fmt(median(replRSS), 1)) MiB | \(replRSS.map { fmt($0, 1) }.joined(separator: ", ")) |")

// 2. Overhead of one llm_query round trip against a zero-latency server.
print("\n## llm_query round trip (zero-latency server, \(options.roundTrips) sequential calls)")
let echo = try await ModelSimulator.start(models: ["root"]) { request in
    if request.model == "sub" { return SimulatedReply(text: "ok") }
    return SimulatedReply(text: """
        ```repl
        import time
        llm_query('warm up')
        t = time.perf_counter()
        for i in range(\(options.roundTrips)):
            llm_query('x')
        FINAL((time.perf_counter() - t) / \(options.roundTrips))
        ```
        """)
}
let small = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-small.txt")
try "tiny".write(to: small, atomically: true, encoding: .utf8)
var perCall: [Double] = []
for _ in 0..<options.runs {
    let (summary, _, _) = try await runAsk(baseURL: echo.baseURL, context: small.path, extra: ["--sub-model", "sub"])
    perCall.append(Double(summary["answer"] as! String)! * 1000)
}
// The same HTTP call made directly from Swift, to separate the REPL hop from the HTTP hop.
let direct = OpenAICompatibleModel(name: "sub", baseURL: echo.baseURL)
_ = try await direct.complete(ModelRequest(messages: [.user("warm up")]))
let directStart = ContinuousClock.now
for _ in 0..<options.roundTrips { _ = try await direct.complete(ModelRequest(messages: [.user("x")])) }
let directMS = (ContinuousClock.now - directStart).seconds / Double(options.roundTrips) * 1000
await echo.shutdown()
print("| measure | median | runs |")
print("|---|---|---|")
print("| `llm_query` REPL → host → server → REPL | \(fmt(median(perCall))) ms | \(perCall.map { fmt($0) }.joined(separator: ", ")) |")
print("| the HTTP call alone, from Swift | \(fmt(directMS)) ms | |")
print("| REPL hop (difference) | \(fmt(median(perCall) - directMS)) ms | |")

// 3. Fan-out: a batch at simulated latency against the ideal ceil(N / concurrency) × latency.
let latency = Double(options.latencyMS) / 1000
let ideal = (Double(options.batchSize) / Double(options.concurrency)).rounded(.up) * latency
print("\n## llm_query_batched of \(options.batchSize) calls, \(options.latencyMS) ms latency, concurrency \(options.concurrency)")
let slow = try await ModelSimulator.start(models: ["root"]) { request in
    if request.model == "sub" { return SimulatedReply(text: "ok", delay: .milliseconds(options.latencyMS)) }
    return SimulatedReply(text: """
        ```repl
        import time
        t = time.perf_counter()
        answers = llm_query_batched(['item %d' % i for i in range(\(options.batchSize))])
        FINAL(time.perf_counter() - t)
        ```
        """)
}
var batch: [Double] = []
var wall: [Double] = []
var peaks: [Int] = []
for _ in 0..<options.runs {
    slow.resetCounters()
    let (summary, seconds, _) = try await runAsk(baseURL: slow.baseURL, context: small.path,
                                                 extra: ["--sub-model", "sub", "--max-concurrency", String(options.concurrency)])
    batch.append(Double(summary["answer"] as! String)!)
    wall.append(seconds)
    peaks.append(slow.peakInFlight)
}
await slow.shutdown()
print("| measure | median | runs |")
print("|---|---|---|")
print("| ideal ceil(\(options.batchSize)/\(options.concurrency)) × \(fmt(latency, 2)) s | \(fmt(ideal)) s | |")
print("| batch inside the REPL | \(fmt(median(batch))) s (\(fmt(median(batch) / ideal, 3))× ideal) | \(batch.map { fmt($0) }.joined(separator: ", ")) |")
print("| whole `rlm ask` process (start, context, 1 root turn, batch, exit) | \(fmt(median(wall))) s | \(wall.map { fmt($0) }.joined(separator: ", ")) |")
print("| peak requests in flight at the server | \(peaks.max() ?? 0) | |")

// 4. What each sandbox level adds: REPL start (first root request, tiny context) and time per cell.
print("\n## Sandbox cost (tiny context, \(options.runs) runs, 20 one-line cells per run)")
let cells = 20
let stepper = try await ModelSimulator.start(models: ["root"]) { request in
    SimulatedReply(text: request.assistantTurns < cells ? "```repl\nx = \(request.assistantTurns)\n```" : "```repl\nFINAL(x)\n```")
}
print("| level | `rlm ask` start → first root request (median) | host-measured time per cell (median) |")
print("|---|---|---|")
for level in ["none", "basic", "strict"] {
    var starts: [Double] = []
    var cellTimes: [Double] = []
    for _ in 0..<options.runs {
        stepper.resetCounters()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-\(level).jsonl")
        let started = ContinuousClock.now
        let result = try await Subprocess.run(
            .path(FilePath(rlmBinary)),
            arguments: Arguments(["ask", "benchmark", "--context", small.path, "--quiet", "--sandbox", level,
                                  "--max-iterations", String(cells + 2), "--log", log.path]),
            environment: .custom(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                  "HOME": NSTemporaryDirectory(), "RLM_BASE_URL": stepper.baseURL, "RLM_MODEL": "root"]),
            output: .discarded, error: .string(limit: 1 << 20))
        guard case .exited(0) = result.terminationStatus else { print("run failed: \(result.standardError)"); exit(1) }
        starts.append((stepper.firstRequestAt! - started).seconds)
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        for line in lines {
            guard let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  event["event"] as? String == "code_executed", let seconds = event["seconds"] as? Double else { continue }
            cellTimes.append(seconds * 1000)
        }
        try? FileManager.default.removeItem(at: log)
    }
    print("| \(level) | \(fmt(median(starts))) s | \(fmt(median(cellTimes))) ms |")
}
await stepper.shutdown()
