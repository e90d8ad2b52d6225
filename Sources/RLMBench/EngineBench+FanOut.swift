import Foundation
import ModelSimulator

extension EngineBench {
    /// One `llm_query_batched` of N calls, C at a time, each answered after the latency: wall time inside the
    /// REPL beside the ideal ceil(N / C) × latency, and the server's peak of requests in flight.
    func fanOut(onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        let latency = options.latencyMS
        let simulator = try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" {
                return SimulatedReply(text: "echo: \(request.lastUserText)", delay: .milliseconds(latency))
            }
            // The batch size travels in the question, so one server serves every case.
            let calls = Int(request.messages.first { $0.role == "user" }?.content.firstMatch(of: /fan-out (\d+)/)?.output.1 ?? "0") ?? 0
            return SimulatedReply(text: """
                ```repl
                import time
                t = time.perf_counter()
                answers = llm_query_batched(['item %d' % i for i in range(\(calls))])
                assert answers == ['echo: item %d' % i for i in range(\(calls))], [a for a in answers if not a.startswith('echo')][:3]
                FINAL(time.perf_counter() - t)
                ```
                """)
        }
        defer { Task { await simulator.shutdown() } }
        var figures: [EngineFigure] = []
        for server in options.servers {
            let python: PythonModelServer? = switch server {
            case .simulator: nil
            case .python: try await PythonModelServer(latencyMS: latency, arguments: ["--model", "sub"])
            case .backlog5: try await PythonModelServer(latencyMS: latency, arguments: ["--model", "sub", "--http11", "--backlog", "5"])
            }
            defer { python?.stop() }
            figures += try await fanOut(root: simulator, subURL: python?.baseURL ?? simulator.baseURL, server: server,
                                        peak: { try python?.stats().peakInFlight ?? simulator.peakInFlight },
                                        reset: { simulator.resetCounters(); try python?.resetStats() }, onFigure: onFigure)
        }
        return figures
    }

    func fanOut(root simulator: ModelSimulator, subURL: String, server: FanOutServer, peak serverPeak: () throws -> Int,
                reset: () throws -> Void, onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        let latency = options.latencyMS
        var figures: [EngineFigure] = []
        for concurrency in options.concurrency {
            for calls in options.calls {
                let ideal = (Double(calls) / Double(concurrency)).rounded(.up) * Double(latency) / 1000
                guard ideal <= options.maxIdealSeconds else { continue }
                var times: [Double] = []
                var peak = 0
                for _ in 0..<options.runs {
                    try reset()
                    let outcome = try await ask(baseURL: simulator.baseURL, query: "fan-out \(calls)", context: "-",
                                                extra: ["--sub-model", "sub", "--sub-base-url", subURL,
                                                        "--max-concurrency", String(concurrency),
                                                        "--max-iterations", "2"],
                                                input: "tiny")
                    times.append(try Self.answerNumber(outcome))
                    peak = max(peak, try serverPeak())
                }
                let figure = EngineFigure(section: "fan-out", measure: "N = \(calls), C = \(concurrency), \(latency) ms",
                                          unit: "s", runs: times, ideal: ideal,
                                          note: "\(server.rawValue) server, peak in flight \(peak)")
                figures.append(figure)
                onFigure(figure)
            }
        }
        return figures
    }
}

/// The server that answers the sub-calls of the fan-out. `python` keeps every default of Python's `http.server`
/// (HTTP/1.0, listen backlog 5); `backlog5` is a keep-alive HTTP/1.1 server with a backlog of 5, as cpp-httplib
/// (llama.cpp's server) listens.
public enum FanOutServer: String, CaseIterable, Sendable {
    case simulator, python, backlog5
}
