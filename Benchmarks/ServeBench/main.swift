import Foundation
import ModelSimulator
import RLMKit

// ServeBench: what `rlm serve` adds on top of RLMKit, and what the context cache saves.
//
//   swift build -c release --product rlm --product ServeBench
//   .build/release/ServeBench overhead .build/release/rlm [requests=256] [concurrency=32] [latency-ms=20]
//   .build/release/ServeBench large .build/release/rlm [megabytes=100]

let arguments = CommandLine.arguments
guard arguments.count >= 3, ["overhead", "large"].contains(arguments[1]) else {
    print("usage: ServeBench overhead RLM_BINARY [requests] [concurrency] [latency-ms] | ServeBench large RLM_BINARY [megabytes]")
    exit(2)
}
let binary = arguments[2]
func argument(_ index: Int, default value: Int) -> Int { arguments.count > index ? Int(arguments[index]) ?? value : value }

let answerCode = "```repl\nFINAL(f'{len(context)} chars')\n```"
let latencyMS = arguments[1] == "overhead" ? argument(5, default: 20) : 20
let simulator = try await ModelSimulator.start(models: ["root"]) { _ in
    SimulatedReply(text: answerCode, promptTokens: 200, completionTokens: 20, delay: .milliseconds(latencyMS))
}
let environment = ["RLM_BASE_URL": simulator.baseURL, "RLM_MODEL": "root"]

if arguments[1] == "overhead" {
    let requests = argument(3, default: 256)
    let width = argument(4, default: 32)
    print("server overhead: \(requests) requests, \(width) at once, simulated model latency \(latencyMS) ms, tiny contexts")

    // RLMKit called directly, each run over its own tiny context.
    let rlm = RLM(rootModel: OpenAICompatibleModel(name: "root", baseURL: simulator.baseURL))
    _ = try await concurrently(width, width: width) { index in _ = try await rlm.complete(query: "q", context: .text("warm \(index)")) }
    let directStart = ContinuousClock.now
    let direct = try await concurrently(requests, width: width) { index -> Double in
        let start = ContinuousClock.now
        _ = try await rlm.complete(query: "q", context: .text("context number \(index)"))
        return (ContinuousClock.now - start).seconds
    }
    let directRate = Double(requests) / (ContinuousClock.now - directStart).seconds

    // The same through `rlm serve`: distinct contexts and no cache, so every request loads its own REPL as above.
    func throughServer(cacheMB: Int, sameContext: Bool) async throws -> (latency: [Double], overhead: [Double], rate: Double) {
        let served = try await ServedProcess.start(
            binary: binary, arguments: ["--no-log", "--max-concurrent-runs", String(width), "--cache-mb", String(cacheMB)],
            environment: environment)
        defer { Task { await served.stop() } }
        _ = try await concurrently(width, width: width) { index in
            _ = try await served.complete(["model": "rlm", "messages": [["role": "user", "content": "q"]], "context": "warm \(index)"])
        }
        let start = ContinuousClock.now
        let replies = try await concurrently(requests, width: width) { index -> (Double, Double) in
            let context = sameContext ? "the same context" : "context number \(index)"
            let reply = try await served.complete(["model": "rlm", "messages": [["role": "user", "content": "q"]], "context": context])
            // The run's own time inside the server: loading the context into a REPL, then the question.
            let summary = reply.json["rlm"] as? [String: Any] ?? [:]
            let engine = (summary["wall_seconds"] as? Double ?? .nan) + (summary["context_load_seconds"] as? Double ?? .nan)
            return (reply.seconds, reply.seconds - engine)
        }
        let rate = Double(requests) / (ContinuousClock.now - start).seconds
        await served.stop()
        return (replies.map(\.0), replies.map(\.1), rate)
    }
    // Each of `width` clients asks its own follow-up questions in the session its first request started: the
    // REPL that answered it, with the context loaded, which no other client can use.
    func throughSessions() async throws -> (latency: [Double], rate: Double) {
        let served = try await ServedProcess.start(
            binary: binary, arguments: ["--no-log", "--max-concurrent-runs", String(width), "--cache-mb", "256"],
            environment: environment)
        defer { Task { await served.stop() } }
        let sessions = try await concurrently(width, width: width) { index -> String in
            let reply = try await served.complete(["model": "rlm", "messages": [["role": "user", "content": "q"]], "context": "client \(index)"])
            guard let id = (reply.json["rlm"] as? [String: Any])?["session"] as? String else {
                throw BenchFailure("no session id in \(reply.json)")
            }
            return id
        }
        let start = ContinuousClock.now
        let perClient = (requests + width - 1) / width
        let latencies = try await concurrently(width, width: width) { client -> [Double] in
            var seconds: [Double] = []
            for _ in 0..<perClient {
                let reply = try await served.complete(["model": "rlm", "messages": [["role": "user", "content": "q"]], "session": sessions[client]])
                seconds.append(reply.seconds)
            }
            return seconds
        }.flatMap { $0 }
        let rate = Double(latencies.count) / (ContinuousClock.now - start).seconds
        await served.stop()
        return (latencies, rate)
    }
    let uncached = try await throughServer(cacheMB: 0, sameContext: false)
    let cached = try await throughServer(cacheMB: 256, sameContext: true)
    let continued = try await throughSessions()

    func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }
    print("| path | p50 latency | p99 latency | requests/s |")
    print("|---|---|---|---|")
    print("| RLMKit `complete` directly | \(ms(percentile(direct, 50))) | \(ms(percentile(direct, 99))) | \(String(format: "%.1f", directRate)) |")
    print("| `rlm serve`, no cache, distinct contexts | \(ms(percentile(uncached.latency, 50))) | \(ms(percentile(uncached.latency, 99))) | \(String(format: "%.1f", uncached.rate)) |")
    print("| `rlm serve`, cache on, one context | \(ms(percentile(cached.latency, 50))) | \(ms(percentile(cached.latency, 99))) | \(String(format: "%.1f", cached.rate)) |")
    print("| `rlm serve`, each client continuing its own session | \(ms(percentile(continued.latency, 50))) | \(ms(percentile(continued.latency, 99))) | \(String(format: "%.1f", continued.rate)) |")
    print("")
    print("server overhead, p50 / p99 of (serve latency − direct latency): \(ms(percentile(uncached.latency, 50) - percentile(direct, 50))) / \(ms(percentile(uncached.latency, 99) - percentile(direct, 99)))")
    print("server overhead per request, p50 / p99 of (HTTP latency − the run's context load and wall time): \(ms(percentile(uncached.overhead, 50))) / \(ms(percentile(uncached.overhead, 99)))")
} else {
    let megabytes = argument(3, default: 100)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("serve-bench-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("big.txt")
    _ = FileManager.default.createFile(atPath: file.path, contents: nil)
    let handle = try FileHandle(forWritingTo: file)
    var generator = SystemRandomNumberGenerator()
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    for block in 0..<megabytes {
        var text = ""
        text.reserveCapacity(1 << 20)
        while text.utf8.count < (1 << 20) - 80 {
            text += "line \(block) " + (0..<8).map { _ in words[Int(generator.next() % 10)] }.joined(separator: " ") + "\n"
        }
        try handle.write(contentsOf: Data(text.utf8))
    }
    try handle.close()
    let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
    print("large context: \(size) bytes, three questions through rlm serve --files-root, context_paths [\"big.txt\"]")
    let served = try await ServedProcess.start(
        binary: binary, arguments: ["--no-log", "--files-root", folder.path, "--cache-mb", String(megabytes * 2 + 64)],
        environment: environment)
    print("| request | end to end | context load (rlm.context_load_seconds) | reused |")
    print("|---|---|---|---|")
    var session: String?
    for (index, question) in ["How many lines?", "Which word is most common?", "What is on the last line?"].enumerated() {
        let reply = try await served.complete(["model": "rlm", "messages": [["role": "user", "content": question]], "context_paths": ["big.txt"]])
        let summary = reply.json["rlm"] as? [String: Any] ?? [:]
        session = summary["session"] as? String
        let load = summary["context_load_seconds"] as? Double ?? .nan
        print("| \(index + 1) | \(String(format: "%.2f s", reply.seconds)) | \(String(format: "%.2f s", load)) | \(summary["context_cached"] as? Bool ?? false) |")
    }
    // A follow-up in the last request's session (the bound ends the oldest): no context sent, nothing read or hashed.
    if let session {
        let reply = try await served.complete(["model": "rlm", "messages": [["role": "user", "content": "And the first line?"]], "session": session])
        let summary = reply.json["rlm"] as? [String: Any] ?? [:]
        let load = summary["context_load_seconds"] as? Double ?? .nan
        print("| 4, in request 3's session | \(String(format: "%.2f s", reply.seconds)) | \(String(format: "%.2f s", load)) | \(summary["context_cached"] as? Bool ?? false) |")
    }
    await served.stop()
}
await simulator.shutdown()
