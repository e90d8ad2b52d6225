import Foundation
import RLMKit
import Synchronization

/// How `rlm ask` ended, told once, however it ended: the answer (or the best partial answer) on stdout and
/// the human message on stderr; with `--json`, exactly one JSON object on stdout instead of the answer, so
/// scripts can read every outcome the same way.
///
/// Exit codes: 0 answered; 1 the run failed or a limit stopped it; 2 usage or configuration error.
struct RunReport {
    /// `status` in the JSON object; each one goes with one exit code.
    enum Status: String {
        /// The model submitted an answer (exit 0).
        case answered
        /// A limit or Ctrl-C stopped the run; the answer is the best partial one (exit 1).
        case partial
        /// The run failed: the model server was unreachable or failed, the REPL broke… (exit 1).
        case failed
        /// A usage or configuration problem the user must fix (exit 2).
        case error
    }

    var status: Status
    var exitCode: Int32
    /// The message for the user: cause and fix. Nil when answered.
    var error: String?
    /// What the engine returned, or the partial result of a run that failed after its first turn.
    var result: RLMResult?
    var wallSeconds: Double
    var logPath: String?

    /// A run that ended with a result: answered, or stopped by a limit or Ctrl-C.
    init(result: RLMResult) {
        self.result = result
        wallSeconds = result.wallSeconds
        logPath = result.logPath
        if result.status == .answered {
            status = .answered
            exitCode = 0
        } else {
            status = .partial
            exitCode = 1
            if result.stopReason == StopReason.outputLimit.rawValue {
                error = "the root model's direct reply was cut at its output limit, so the answer on stdout is incomplete. Ask a narrower question, or use --route rlm."
                    + (result.logPath.map { " (trajectory log: \($0))" } ?? "")
                return
            }
            if result.stopReason == StopReason.schema.rawValue {
                error = Self.schemaStopMessage(result)
                return
            }
            let reason = result.stopReason == "cancelled" ? "cancelled" : "stopped by \(result.stopReason ?? "a limit")"
            error = "\(reason) before the model submitted an answer; the best partial answer is on stdout."
                + (result.logPath.map { " (trajectory log: \($0))" } ?? "")
        }
    }

    /// A run that failed, or never started. `logURL` is where the trajectory log was to be written, if known.
    init(error: any Error, logURL: URL?, wallSeconds: Double) {
        let partial = (error as? RLMRunFailure)?.partial
        // With a partial result, its notes (answer, log) follow the cause together.
        let failure = Self.failure(for: error, logURL: partial == nil ? logURL : nil)
        status = failure.exitCode == 2 ? .error : .failed
        exitCode = failure.exitCode
        result = partial
        self.wallSeconds = partial?.wallSeconds ?? wallSeconds
        logPath = partial?.logPath ?? logURL.flatMap { FileManager.default.fileExists(atPath: $0.path) ? $0.path : nil }
        if let partial {
            let turns = "\(partial.iterations) turn\(partial.iterations == 1 ? "" : "s")"
            let answerNote = partial.answer.isEmpty ? "there is no partial answer" : "the best partial answer is on stdout"
            let logNote = logPath.map { "; trajectory log: \($0)" } ?? ""
            self.error = "the run failed after \(turns): \(failure.message)\n(\(answerNote)\(logNote))"
        } else {
            self.error = failure.message
        }
    }

    /// A run stopped because no submission fitted `--schema`: how many tries, the last one's problems, the fix.
    static func schemaStopMessage(_ result: RLMResult) -> String {
        let violations = result.schemaViolations ?? []
        let shown = violations.prefix(10).map { "  \($0)" }.joined(separator: "\n")
        let more = violations.count > 10 ? "\n  … and \(violations.count - 10) more" : ""
        return "stopped by schema: no submission fitted --schema, and the last one is on stdout. Its problems:\n"
            + shown + more + "\nRaise --max-schema-attempts, simplify the schema, or describe the fields in the question."
            + (result.logPath.map { " (trajectory log: \($0))" } ?? "")
    }

    /// The answer to print: the result's, unless a failed run left none.
    var answer: String? {
        guard let answer = result?.answer else { return nil }
        return answer.isEmpty && status != .answered ? nil : answer
    }

    /// Prints the outcome: JSON or the answer on stdout, the message on stderr (see ``Terminal``).
    func emit(json: Bool) {
        if json {
            Terminal.output(jsonText())
        } else if let answer {
            Terminal.output(answer)
        }
        if let error {
            Terminal.error("rlm: \(error)")
        }
    }

    func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field here encodes; a failure would be a bug, and stdout must still hold one object.
        let data = (try? encoder.encode(JSONBody(report: self)))
            ?? Data(#"{"status":"error","exit_code":1,"error":"the JSON summary could not be encoded"}"#.utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Maps an error to its message (cause and fix) and exit code.
    static func failure(for error: any Error, logURL: URL?) -> CLIFailure {
        let logNote = logURL.flatMap { FileManager.default.fileExists(atPath: $0.path) ? "\n(trajectory log: \($0.path))" : nil } ?? ""
        switch error {
        case let failure as RLMRunFailure:
            return Self.failure(for: failure.error, logURL: logURL)
        case let failure as CLIFailure:
            return failure
        case let error as ModelError:
            return CLIFailure(message: "\(error)\(logNote)", exitCode: error.isConfigurationProblem ? 2 : 1)
        case is PythonNotFound, is SandboxUnavailable, is UnpricedModel, is ContextError:
            return .configuration(String(describing: error))
        case let error as REPLError:
            if case .contextUnloadable = error { return .configuration(error.description + logNote) }
            return .run(error.description + logNote)
        case is CancellationError:
            return .run("the run was cancelled.\(logNote)")
        default:
            return .run("the run failed: \(error)\(logNote)")
        }
    }
}

/// The JSON object: every key is always there (null when unknown), so a script need not guess.
private struct JSONBody: Encodable {
    let report: RunReport

    enum Key: String, CodingKey {
        case status, error, answer, usage, iterations, context
        case schemaViolations = "schema_violations"
        case route
        case routeReason = "route_reason"
        case exitCode = "exit_code"
        case stopReason = "stop_reason"
        case answerSource = "answer_source"
        case totalUsage = "total_usage"
        case costUSD = "cost_usd"
        case subCalls = "sub_calls"
        case peakConcurrency = "peak_concurrency"
        case wallSeconds = "wall_seconds"
        case logPath = "log_path"
        case hostPeakRSSBytes = "host_peak_rss_bytes"
        case replPeakRSSBytes = "repl_peak_rss_bytes"
        case subcallCache = "subcall_cache"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        let result = report.result
        try container.encode(report.status.rawValue, forKey: .status)
        try container.encode(report.exitCode, forKey: .exitCode)
        try container.encode(report.error, forKey: .error)
        // A typed answer is JSON in the object, not a string holding JSON.
        if let value = result?.answerJSON {
            try container.encode(value, forKey: .answer)
        } else {
            try container.encode(report.answer, forKey: .answer)
        }
        try container.encode(result?.schemaViolations, forKey: .schemaViolations)
        try container.encode(result?.stopReason, forKey: .stopReason)
        try container.encode(result?.route?.rawValue, forKey: .route)
        try container.encode(result?.routeReason, forKey: .routeReason)
        try container.encode(result?.answerSource, forKey: .answerSource)
        try container.encode(result?.usageByModel ?? [:], forKey: .usage)
        try container.encode(result?.totalUsage ?? TokenUsage(), forKey: .totalUsage)
        // Without a result nothing was spent; with one, nil means a model has no price.
        try container.encode(result == nil ? 0 : result?.costUSD, forKey: .costUSD)
        try container.encode(result?.iterations ?? 0, forKey: .iterations)
        try container.encode(result?.subCalls ?? 0, forKey: .subCalls)
        try container.encode(result?.peakConcurrency ?? 0, forKey: .peakConcurrency)
        try container.encode(report.wallSeconds, forKey: .wallSeconds)
        try container.encode(report.logPath, forKey: .logPath)
        try container.encode(result?.context, forKey: .context)
        try container.encode(result?.hostPeakRSSBytes, forKey: .hostPeakRSSBytes)
        try container.encode(result?.replPeakRSSBytes, forKey: .replPeakRSSBytes)
        // Hits, misses and tokens saved; null when the cache was off.
        try container.encode(result?.subcallCache, forKey: .subcallCache)
    }
}

/// Lets exactly one report be printed: the run's own, or the one a second Ctrl-C prints before quitting; the
/// process then exits with the code of the report that was printed.
final class ReportGate: Sendable {
    private let winner = Mutex<Int32?>(nil)

    /// True for the first caller only, whose `exitCode` becomes the process's.
    func claim(exitCode: Int32) -> Bool {
        winner.withLock { winner in
            guard winner == nil else { return false }
            winner = exitCode
            return true
        }
    }

    /// The exit code of the report that was printed.
    var exitCode: Int32? { winner.withLock { $0 } }
}
