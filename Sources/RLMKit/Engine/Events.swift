import Foundation

/// Something that happened during a run. Delivered live to observers and written to the trajectory log.
public struct RLMEvent: Sendable, Codable {
    public enum Kind: String, Sendable, Codable {
        case runStarted = "run_started"
        case contextLoaded = "context_loaded"
        /// How the REPL is isolated (`status` is the level, `text` the mechanism), with any fallback warning.
        case sandbox
        /// The root and sub models' context windows and where each figure came from (`details`).
        case modelWindows = "model_windows"
        case iterationStarted = "iteration_started"
        /// A piece of the root model's reply while it streams (delivered to observers, not logged).
        case modelDelta = "model_delta"
        case modelResponse = "model_response"
        /// Older turns were summarised to stay inside the root model's window.
        case historyCompacted = "history_compacted"
        case codeExecuted = "code_executed"
        case subCallStarted = "subcall_started"
        case subCallFinished = "subcall_finished"
        case interpreterRestarted = "interpreter_restarted"
        case finalAnswer = "final_answer"
        /// A submission that did not fit the answer schema: `text` holds it, `details.errors` the problems by
        /// JSON path, `details.attempt` / `details.max_attempts` how many tries are used and allowed.
        case answerRefused = "answer_refused"
        /// The code called a host tool (`tool`, `subcall_id`, `text` holds the JSON arguments).
        case toolCallStarted = "tool_call_started"
        /// A host tool call ended: `text` holds the JSON result, or `error` the message the code got.
        case toolCallFinished = "tool_call_finished"
        case runFinished = "run_finished"
    }

    public var event: Kind
    /// Seconds since the run started.
    public var time: Double
    /// Which RLM of the tree this is about: "0" for the top level, "0.2" for its second child, and so on.
    public var trajectory: String?
    /// For a sub-call that started a child RLM: the child's trajectory id.
    public var childTrajectory: String?
    public var iteration: Int?
    public var text: String?
    public var code: String?
    public var stdout: String?
    public var stderr: String?
    public var model: String?
    public var usage: TokenUsage?
    public var seconds: Double?
    public var finishReason: String?
    public var subCallID: Int?
    public var promptChars: Int?
    public var error: String?
    public var source: String?
    public var status: String?
    public var details: [String: JSONValue]?
    /// For a tool call: the tool's name.
    public var tool: String?
    /// On `run_started` and `run_finished`: the route the run took, `rlm` or `direct`.
    public var route: String?

    public init(event: Kind, time: Double) {
        self.event = event
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case event, time, trajectory, iteration, text, code, stdout, stderr, model, usage, seconds, error, source, status, details, tool, route
        case childTrajectory = "child_trajectory"
        case finishReason = "finish_reason"
        case subCallID = "subcall_id"
        case promptChars = "prompt_chars"
    }
}

/// A JSON-lines trajectory file, written as the run goes so that a crash still leaves a readable log.
/// Each line is written whole with one `write(2)`, so a killed run leaves every line but possibly the last intact.
/// The format is described in docs/trajectory.md.
public actor TrajectoryLog {
    /// The version of the log's format, written in the header as `schema_version`. Raised when a field changes
    /// meaning or goes away; new optional fields keep the version.
    public static let schemaVersion = 1

    public nonisolated let url: URL
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Creates the log 0600 (its new folders 0700): it holds the question, the code and what the code printed.
    public init(url: URL) throws {
        let handle: FileHandle
        do {
            handle = try PrivateFiles.createFile(url)
        } catch {
            throw ContextError(message: "\(error) Choose another path with --log (or --log-dir).")
        }
        self.url = url
        self.handle = handle
        self.encoder = JSONEncoder()
        self.encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// Writes one JSON object as one line.
    public func write<Value: Encodable>(_ value: Value) {
        guard var line = try? encoder.encode(value) else { return }
        line.append(0x0A)
        try? handle.write(contentsOf: line)
    }

    public func close() {
        try? handle.synchronize()
        try? handle.close()
    }
}
