import Foundation
import ModelSimulator
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm bench engine`: what the orchestration itself costs, measured by running the real `rlm` binary against
/// the built-in simulated OpenAI-wire server. No model is needed.
public struct EngineBench: Sendable {
    public struct Options: Sendable {
        /// Batch sizes of the fan-out.
        public var calls = [100, 1_000, 10_000]
        public var concurrency = [1, 4, 16, 64, 256]
        public var latencyMS = 100
        public var runs = 3
        /// Fan-out cases whose ideal exceeds this are skipped (1 at a time, 10,000 calls would take 17 minutes).
        public var maxIdealSeconds = 20.0
        public var roundTrips = 300
        /// Text contexts to load, in tokens.
        public var contextTokens = [10_000_000, 100_000_000]
        /// Files of the generated directory context.
        public var directoryFiles = 30_000
        /// Real folders to load as directory contexts as well.
        public var directories: [String] = []
        public var sections: Set<Section> = Set(Section.allCases)
        /// Servers that answer the fan-out's sub-calls.
        public var servers: [FanOutServer] = [.simulator]
        /// Sub-calls of the batch spread over three replicas, and the limit of each replica.
        public var replicaCalls = 480
        public var replicaConcurrency = 8
        public init() {}
    }

    public enum Section: String, CaseIterable, Sendable {
        case fanout, overhead, load, directory, replicas
        /// Root input cost of a 20-turn run without and with the providers' prompt caches.
        case promptcache
    }

    public let options: Options
    /// The `rlm` executable to measure.
    public let rlmBinary: String
    /// Where inputs are generated (kept between runs).
    public let workDirectory: URL

    public init(options: Options, rlmBinary: String, workDirectory: URL) {
        self.options = options
        self.rlmBinary = rlmBinary
        self.workDirectory = workDirectory
    }

    /// Runs the chosen sections; `onFigure` sees each figure as soon as it is measured.
    public func run(onFigure: @Sendable (EngineFigure) -> Void = { _ in }) async throws -> [EngineFigure] {
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        var figures: [EngineFigure] = []
        if options.sections.contains(.fanout) { figures += try await fanOut(onFigure: onFigure) }
        if options.sections.contains(.overhead) { figures += try await overhead(onFigure: onFigure) }
        if options.sections.contains(.load) { figures += try await textLoads(onFigure: onFigure) }
        if options.sections.contains(.directory) { figures += try await directoryLoads(onFigure: onFigure) }
        if options.sections.contains(.replicas) { figures += try await replicas(onFigure: onFigure) }
        if options.sections.contains(.promptcache) { figures += try await promptCaching(onFigure: onFigure) }
        return figures
    }

    // MARK: - Running `rlm ask`

    struct AskOutcome {
        var summary: [String: Any]
        var seconds: Double
        var started: ContinuousClock.Instant
    }

    /// Runs `rlm ask --json` against `baseURL` and returns its summary; a failed run throws with its stderr.
    func ask(baseURL: String, query: String = "benchmark", context: String, extra: [String] = [],
             input: String? = nil, log: URL? = nil) async throws -> AskOutcome {
        let started = ContinuousClock.now
        let result = try await Subprocess.run(
            .path(FilePath(rlmBinary)),
            arguments: Arguments(["ask", query, "--context", context, "--json", "--quiet"]
                                 + (log.map { ["--log", $0.path] } ?? ["--no-log"]) + extra),
            environment: .custom(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                  "HOME": NSTemporaryDirectory(), "RLM_BASE_URL": baseURL, "RLM_MODEL": "root"]),
            input: .string(input ?? ""), output: .string(limit: 1 << 24), error: .string(limit: 1 << 20))
        let seconds = (ContinuousClock.now - started).seconds
        guard case .exited(0) = result.terminationStatus,
              let data = result.standardOutput.data(using: .utf8),
              let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BenchInputError("`rlm ask` failed (\(result.terminationStatus)): \(result.standardError.suffix(600))")
        }
        return AskOutcome(summary: summary, seconds: seconds, started: started)
    }

    static func answerNumber(_ outcome: AskOutcome) throws -> Double {
        guard let answer = (outcome.summary["answer"] as? String).flatMap(Double.init) else {
            throw BenchInputError("`rlm ask` answered \(outcome.summary["answer"] ?? "nothing"), not a number: "
                                  + "\(outcome.summary["error"] ?? "")")
        }
        return answer
    }
}

/// One measured figure, with its ideal where there is one.
public struct EngineFigure: Codable, Sendable {
    public var section: String
    public var measure: String
    public var unit: String
    /// Median of the runs.
    public var value: Double
    public var ideal: Double?
    public var runs: [Double]
    public var note: String?

    public init(section: String, measure: String, unit: String, runs: [Double], ideal: Double? = nil, note: String? = nil) {
        self.section = section
        self.measure = measure
        self.unit = unit
        self.runs = runs
        self.value = runs.isEmpty ? 0 : runs.sorted()[runs.count / 2]
        self.ideal = ideal
        self.note = note
    }

    /// The value over its ideal, when it has one.
    public var ratio: Double? { ideal.flatMap { $0 > 0 ? value / $0 : nil } }

    /// The figures as a Markdown table, each beside its ideal.
    public static func table(_ figures: [EngineFigure]) -> String {
        var lines = ["| section | measure | median | ideal | × ideal | runs | note |", "|---|---|---|---|---|---|---|"]
        for figure in figures {
            let digits = figure.unit == "s" ? 3 : figure.unit == "ms" ? 3 : 1
            func show(_ value: Double) -> String { String(format: "%.\(digits)f", value) }
            lines.append("| \(figure.section) | \(figure.measure) | \(show(figure.value)) \(figure.unit) | "
                         + (figure.ideal.map { "\(show($0)) \(figure.unit)" } ?? "–") + " | "
                         + (figure.ratio.map { String(format: "%.3f", $0) } ?? "–") + " | "
                         + figure.runs.map(show).joined(separator: ", ") + " | \(figure.note ?? "") |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
