import Foundation
import ModelSimulator
import RLMKit
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `EngineBench --fanout`: wall time of a batch of sub-calls against servers of three kinds, beside the ideal
/// ceil(N / C) × latency, through the Swift client (`OpenAICompatibleModel` under `ConcurrencyLimiter`, as the
/// engine calls it), through the real `rlm` binary (`llm_query_batched`), and for comparison a plain Python
/// thread-pool client.
///
///   swift run -c release EngineBench --fanout [--runs 3] [--only simulator|python|backlog5] [--no-cli] [--small]
///   swift run -c release EngineBench --fanout --server-url http://127.0.0.1:8080/v1 --calls 200 --concurrency 16 --latency-ms 100
///     (the Swift client alone against a server you started; its model must accept the name `sub`)
struct FanOutBench {
    struct Scenario {
        let calls: Int
        let concurrency: Int
        let latencyMS: Int
        var ideal: Double { (Double(calls) / Double(concurrency)).rounded(.up) * Double(latencyMS) / 1000 }
    }

    /// The servers under test. `python` keeps every default of Python's `http.server`; `backlog5` is a keep-alive
    /// HTTP/1.1 server with a listen backlog of 5, as cpp-httplib (llama.cpp's server) has.
    enum Server: String, CaseIterable {
        case simulator, python, backlog5

        var label: String {
            switch self {
            case .simulator: "ModelSimulator (SwiftNIO, keep-alive, backlog 1024)"
            case .python: "Python ThreadingHTTPServer, defaults (HTTP/1.0, backlog 5)"
            case .backlog5: "Python ThreadingHTTPServer, HTTP/1.1 keep-alive, backlog 5"
            }
        }
    }

    var runs = 3
    var servers = Server.allCases
    var viaCLI = true
    /// A server started by hand: only the Swift client is measured against it.
    var serverURL: String?
    var scenarios = [Scenario(calls: 200, concurrency: 16, latencyMS: 100), Scenario(calls: 1000, concurrency: 64, latencyMS: 200)]
    let rlmBinary: String

    init(arguments: [String], rlmBinary: String) {
        self.rlmBinary = rlmBinary
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            switch flag {
            case "--runs": runs = iterator.next().flatMap(Int.init) ?? runs
            case "--only": servers = iterator.next().flatMap(Server.init(rawValue:)).map { [$0] } ?? servers
            case "--no-cli": viaCLI = false
            case "--small": scenarios = [scenarios[0]]
            case "--server-url": serverURL = iterator.next()
            case "--calls", "--concurrency", "--latency-ms":
                let value = iterator.next().flatMap(Int.init) ?? 0
                var first = scenarios[0]
                switch flag {
                case "--calls": first = Scenario(calls: value, concurrency: first.concurrency, latencyMS: first.latencyMS)
                case "--concurrency": first = Scenario(calls: first.calls, concurrency: value, latencyMS: first.latencyMS)
                default: first = Scenario(calls: first.calls, concurrency: first.concurrency, latencyMS: value)
                }
                scenarios = [first]
            default: print("unknown flag \(flag)"); exit(2)
            }
        }
    }

    func run() async throws {
        if let serverURL {
            for scenario in scenarios {
                var times: [Double] = []
                for _ in 0..<runs { times.append(try await swiftClientBatch(baseURL: serverURL, scenario: scenario)) }
                print("\(serverURL): \(scenario.calls) calls @ \(scenario.concurrency): median \(fmt(median(times))) s "
                      + "(\(fmt(median(times) / scenario.ideal, 3))× ideal \(fmt(scenario.ideal)) s), runs \(times.map { fmt($0) })")
            }
            return
        }
        for scenario in scenarios {
            print("\n## Fan-out: \(scenario.calls) calls, concurrency \(scenario.concurrency), \(scenario.latencyMS) ms latency"
                  + " (ideal ceil(\(scenario.calls)/\(scenario.concurrency)) × \(scenario.latencyMS) ms = \(fmt(scenario.ideal)) s, \(runs) runs)")
            print("| server | client | median | × ideal | runs (s) | server peak in flight |")
            print("|---|---|---|---|---|---|")
            for server in servers {
                try await measure(server: server, scenario: scenario)
            }
        }
    }

    private func row(_ server: Server, _ client: String, _ times: [Double], _ ideal: Double, peak: Int?) {
        let middle = median(times.filter { !$0.isNaN })
        print("| \(server.label) | \(client) | \(fmt(middle)) s | \(fmt(middle / ideal, 3)) | "
              + "\(times.map { $0.isNaN ? "failed" : fmt($0) }.joined(separator: ", ")) | \(peak.map(String.init) ?? "–") |")
    }

    private func measure(server: Server, scenario: Scenario) async throws {
        let simulator = try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" {
                return SimulatedReply(text: "echo: \(request.lastUserText)", delay: .milliseconds(scenario.latencyMS))
            }
            return SimulatedReply(text: """
                ```repl
                import time
                t = time.perf_counter()
                answers = llm_query_batched(['item %d' % i for i in range(\(scenario.calls))])
                assert answers == ['echo: item %d' % i for i in range(\(scenario.calls))], [a for a in answers if not a.startswith('echo')][:3]
                FINAL(time.perf_counter() - t)
                ```
                """)
        }
        defer { Task { await simulator.shutdown() } }
        var python: PythonModelServer?
        switch server {
        case .simulator: break
        case .python: python = try await PythonModelServer(latencyMS: scenario.latencyMS, arguments: ["--model", "sub"])
        case .backlog5:
            python = try await PythonModelServer(latencyMS: scenario.latencyMS,
                                                 arguments: ["--model", "sub", "--http11", "--backlog", "5"])
        }
        defer { python?.stop() }
        let baseURL = python?.baseURL ?? simulator.baseURL
        func serverPeak() throws -> Int { try python?.stats().peakInFlight ?? simulator.peakInFlight }
        func resetPeak() throws {
            simulator.resetCounters()
            if let python { try python.resetStats() }
        }

        var times: [Double] = []
        var peak = 0
        for _ in 0..<runs {
            try resetPeak()
            times.append(try await swiftClientBatch(baseURL: baseURL, scenario: scenario))
            peak = max(peak, try serverPeak())
        }
        row(server, "Swift client via ConcurrencyLimiter", times, scenario.ideal, peak: peak)

        if viaCLI {
            times = []
            peak = 0
            for _ in 0..<runs {
                try resetPeak()
                times.append(try await cliBatch(rootURL: simulator.baseURL, subURL: baseURL, scenario: scenario))
                peak = max(peak, try serverPeak())
            }
            row(server, "`rlm ask`, `llm_query_batched` (time inside the REPL)", times, scenario.ideal, peak: peak)
        }

        times = []
        peak = 0
        for _ in 0..<runs {
            try resetPeak()
            times.append(try await pythonClientBatch(baseURL: baseURL, scenario: scenario))
            peak = max(peak, try serverPeak())
        }
        row(server, "Python thread pool (urllib)", times, scenario.ideal, peak: peak)
    }

    /// N calls through `OpenAICompatibleModel` under a `ConcurrencyLimiter`, as the engine makes them.
    private func swiftClientBatch(baseURL: String, scenario: Scenario) async throws -> Double {
        let model = OpenAICompatibleModel(name: "sub", baseURL: baseURL)
        let limiter = ConcurrencyLimiter(limit: scenario.concurrency)
        let started = ContinuousClock.now
        let failures = await withTaskGroup(of: String?.self) { group in
            for index in 0..<scenario.calls {
                group.addTask {
                    do {
                        let reply = try await limiter.run { try await model.complete(ModelRequest(messages: [.user("item \(index)")])) }
                        return reply.text == "echo: item \(index)" ? nil : "wrong answer: \(reply.text.prefix(80))"
                    } catch {
                        return String(describing: error)
                    }
                }
            }
            return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
        }
        let seconds = (ContinuousClock.now - started).seconds
        // Failed calls are reported beside the time, not hidden.
        if let first = failures.first { print("(Swift client: \(failures.count) of \(scenario.calls) calls failed, e.g. \(first))") }
        return seconds
    }

    /// `rlm ask --json` whose root model runs one `llm_query_batched`; the answer is the batch's time in the REPL.
    private func cliBatch(rootURL: String, subURL: String, scenario: Scenario) async throws -> Double {
        let result = try await Subprocess.run(
            .path(FilePath(rlmBinary)),
            arguments: Arguments(["ask", "benchmark", "--context", "-", "--json", "--no-log", "--quiet",
                                  "--sub-model", "sub", "--sub-base-url", subURL,
                                  "--max-concurrency", String(scenario.concurrency)]),
            environment: .custom(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                  "HOME": NSTemporaryDirectory(), "RLM_BASE_URL": rootURL, "RLM_MODEL": "root"]),
            input: .string("tiny"), output: .string(limit: 1 << 24), error: .string(limit: 1 << 20))
        guard case .exited(0) = result.terminationStatus,
              let data = result.standardOutput.data(using: .utf8),
              let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let answer = (summary["answer"] as? String).flatMap(Double.init) else {
            // Reported beside the times (a batch with failed calls fails the REPL's assert), not hidden.
            print("(`rlm` run failed: \(result.terminationStatus) \(result.standardError.suffix(300)))")
            return .nan
        }
        return answer
    }

    /// `Tests/Fixtures/thread_pool_client.py`: what a plain Python script gets from the same server.
    private func pythonClientBatch(baseURL: String, scenario: Scenario) async throws -> Double {
        let script = PythonModelServer.fixtures.appendingPathComponent("thread_pool_client.py").path
        let result = try await Subprocess.run(
            .name("python3"),
            arguments: Arguments([script, baseURL, "--calls", String(scenario.calls),
                                  "--concurrency", String(scenario.concurrency), "--model", "sub"]),
            output: .string(limit: 1 << 16), error: .string(limit: 1 << 20))
        guard let seconds = Double(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            print("thread_pool_client.py failed: \(result.terminationStatus)\n\(result.standardError)")
            exit(1)
        }
        // A plain client does not retry: its failed calls are reported beside its time, not hidden.
        let failures = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        if !failures.isEmpty { print("(Python client: \(failures))") }
        return seconds
    }
}
