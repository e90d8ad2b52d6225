import Foundation
import ModelSimulator
import RLMKit

extension EngineBench {
    /// The cost of one sub-call beyond the HTTP call itself, and of one REPL round trip at each sandbox level.
    func overhead(onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        var figures: [EngineFigure] = []
        func emit(_ figure: EngineFigure) { figures.append(figure); onFigure(figure) }
        let trips = options.roundTrips
        let echo = try await ModelSimulator.start(models: ["root"]) { request in
            if request.model == "sub" { return SimulatedReply(text: "ok") }
            return SimulatedReply(text: """
                ```repl
                import time
                llm_query('warm up')
                t = time.perf_counter()
                for i in range(\(trips)):
                    llm_query('x')
                FINAL((time.perf_counter() - t) / \(trips))
                ```
                """)
        }
        var perCall: [Double] = []
        for _ in 0..<options.runs {
            let outcome = try await ask(baseURL: echo.baseURL, context: "-", extra: ["--sub-model", "sub"], input: "tiny")
            perCall.append(try Self.answerNumber(outcome) * 1000)
        }
        // The same HTTP call made directly from Swift: the ideal a sub-call from the REPL can approach.
        let direct = OpenAICompatibleModel(name: "sub", baseURL: echo.baseURL)
        _ = try await direct.complete(ModelRequest(messages: [.user("warm up")]))
        var directMS: [Double] = []
        for _ in 0..<options.runs {
            let started = ContinuousClock.now
            for _ in 0..<trips { _ = try await direct.complete(ModelRequest(messages: [.user("x")])) }
            directMS.append((ContinuousClock.now - started).seconds / Double(trips) * 1000)
        }
        await echo.shutdown()
        let ideal = directMS.sorted()[directMS.count / 2]
        emit(EngineFigure(section: "sub-call", measure: "`llm_query` REPL → host → server → REPL (\(trips) in a row)",
                          unit: "ms", runs: perCall, ideal: ideal, note: "ideal: the same HTTP call made from Swift"))
        emit(EngineFigure(section: "sub-call", measure: "overhead per sub-call (REPL hop)", unit: "ms",
                          runs: perCall.map { $0 - ideal }))

        let cells = 20
        let stepper = try await ModelSimulator.start(models: ["root"]) { request in
            SimulatedReply(text: request.assistantTurns < cells ? "```repl\nx = \(request.assistantTurns)\n```" : "```repl\nFINAL(x)\n```")
        }
        defer { Task { await stepper.shutdown() } }
        for level in ["none", "basic", "strict"] {
            var starts: [Double] = []
            var cellTimes: [Double] = []
            for _ in 0..<options.runs {
                stepper.resetCounters()
                let log = workDirectory.appendingPathComponent("engine-cells-\(level).jsonl")
                let outcome = try await ask(baseURL: stepper.baseURL, context: "-",
                                            extra: ["--sandbox", level, "--max-iterations", String(cells + 2)],
                                            input: "tiny", log: log)
                if let first = stepper.firstRequestAt { starts.append((first - outcome.started).seconds) }
                cellTimes += Self.eventSeconds("code_executed", log: log).map { $0 * 1000 }
                try? FileManager.default.removeItem(at: log)
            }
            emit(EngineFigure(section: "REPL", measure: "round trip of a one-line cell, sandbox \(level)", unit: "ms", runs: cellTimes))
            emit(EngineFigure(section: "REPL", measure: "`rlm ask` start → first root request, sandbox \(level)", unit: "s", runs: starts))
        }
        return figures
    }

    /// The `seconds` of every event named `name` in a trajectory log (`code_executed`: each cell's host-measured
    /// time; `context_loaded`: the driver's load time).
    static func eventSeconds(_ name: String, log: URL) -> [Double] {
        guard let text = try? String(contentsOf: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  event["event"] as? String == name else { return nil }
            return event["seconds"] as? Double
        }
    }
}
