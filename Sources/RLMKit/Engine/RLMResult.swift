import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of a run.
public struct RLMResult: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// The model submitted an answer from code.
        case answered
        /// A limit stopped the run; `answer` is the best partial answer found.
        case partial
    }
    public var answer: String
    public var status: Status
    /// The limit that stopped the run, when one did.
    public var stopReason: String?
    /// How the answer was submitted: FINAL, FINAL_VAR, answer, or bare FINAL in a reply.
    public var answerSource: String?
    public var usageByModel: [String: ModelUsage]
    public var totalUsage: TokenUsage
    /// Cost of the whole tree in USD; nil when a model used has no price.
    public var costUSD: Double?
    public var iterations: Int
    public var subCalls: Int
    /// Most sub-calls that were in flight at the same time.
    public var peakConcurrency: Int
    public var wallSeconds: Double
    public var context: ContextDescription?
    public var logPath: String?
    public var hostPeakRSSBytes: Int
    public var replPeakRSSBytes: Int
    public var trajectory: [RLMEvent]
    /// With an answer schema: the submitted value, whole, once it fits (`answer` holds its JSON text). When the
    /// run stopped on the schema (`stopReason == "schema"`), the last submission, if it was JSON.
    public var answerJSON: JSONValue? = nil
    /// Why the last submission did not fit the answer schema, when the run ended without one that did.
    public var schemaViolations: [SchemaViolation]? = nil
    /// The route the run took (`rlm` or `direct`) and why.
    public var route: RLMRoute? = nil
    public var routeReason: String? = nil

    /// The level the run's code ran at, as its `sandbox` event said.
    public var sandbox: SandboxLevel? {
        trajectory.first { $0.event == .sandbox }?.status.flatMap(SandboxLevel.init(rawValue:))
    }

    enum CodingKeys: String, CodingKey {
        case answer, status, iterations, context, trajectory
        case stopReason = "stop_reason"
        case answerSource = "answer_source"
        case usageByModel = "usage"
        case totalUsage = "total_usage"
        case costUSD = "cost_usd"
        case subCalls = "sub_calls"
        case peakConcurrency = "peak_concurrency"
        case wallSeconds = "wall_seconds"
        case logPath = "log_path"
        case hostPeakRSSBytes = "host_peak_rss_bytes"
        case replPeakRSSBytes = "repl_peak_rss_bytes"
        case answerJSON = "answer_json"
        case schemaViolations = "schema_violations"
        case route
        case routeReason = "route_reason"
    }
}

/// Peak resident memory of this process.
func hostPeakRSSBytes() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
}
