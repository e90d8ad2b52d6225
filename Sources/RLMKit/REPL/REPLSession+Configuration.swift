import Foundation

/// How the REPL process is started and how long its cells may run.
public struct REPLConfiguration: Sendable {
    /// Interpreter path or name; nil looks up `python3` on PATH.
    public var python: String?
    /// Longest time one code block may run before it is interrupted.
    public var cellTimeout: Duration
    /// Characters of stdout (and, separately, of stderr) kept from one code block.
    public var maxOutputChars: Int
    /// Time a cell gets to stop after an interrupt before the interpreter is killed and restarted.
    public var interruptGrace: Duration
    /// How often a dead interpreter is restarted in one run before the run gives up.
    public var maxRestarts: Int
    /// Folder under which each run gets its private working directory; nil uses the system's temp folder.
    public var workRoot: URL?
    /// Isolation of the REPL process; nil picks the strongest that works here and warns when that is not `strict`.
    public var sandbox: SandboxLevel?
    /// Memory, CPU, file-size and process caps of the REPL process.
    public var resources: REPLResourceLimits

    public init(python: String? = nil, cellTimeout: Duration = .seconds(120), maxOutputChars: Int = 20_000,
                interruptGrace: Duration = .seconds(3), maxRestarts: Int = 5, workRoot: URL? = nil,
                sandbox: SandboxLevel? = nil, resources: REPLResourceLimits = .init()) {
        self.sandbox = sandbox
        self.resources = resources
        self.python = python
        self.cellTimeout = cellTimeout
        self.maxOutputChars = maxOutputChars
        self.interruptGrace = interruptGrace
        self.maxRestarts = maxRestarts
        self.workRoot = workRoot
    }
}

/// What one code block did.
public struct CellOutcome: Sendable {
    public var stdout: String
    public var stderr: String
    /// Characters the block wrote to stdout / stderr in all, before truncation.
    public var stdoutTotal: Int
    public var stderrTotal: Int
    /// The block raised an exception (or was interrupted).
    public var failed: Bool
    /// The name of the exception the block raised (`NameError`, `SyntaxError`…), if any.
    public var errorType: String?
    /// The block ran past the cell timeout and was interrupted.
    public var timedOut: Bool
    /// The interpreter died or had to be killed; a fresh one with `context` reloaded has taken its place.
    public var interpreterRestarted: Bool
    /// Why the interpreter died, when it did.
    public var deathReason: String?
    /// The answer this block submitted, if any.
    public var final: String?
    public var finalSource: String?
    public var restoredNames: [String]
    public var seconds: Double
}

/// Failures of the REPL process that end a run.
public enum REPLError: Error, CustomStringConvertible, Sendable {
    case driverMissing
    case contextUnloadable(String)
    case startFailed(String)
    case tooManyRestarts(Int, String)
    case closed

    public var description: String {
        switch self {
        case .driverMissing:
            return "the REPL driver script (rlm_driver.py) is missing from the RLMKit resources; reinstall rlm."
        case .contextUnloadable(let detail):
            return "the REPL could not load the context: \(detail)"
        case .startFailed(let detail):
            return "the Python REPL process did not start: \(detail)"
        case .tooManyRestarts(let count, let last):
            return "the Python interpreter died \(count) times in this run (last: \(last)); giving up."
        case .closed:
            return "the REPL session has already been shut down."
        }
    }
}

/// Handles a sub-call request from the model's code; returns one string per prompt, in order.
public typealias SubCallHandler = @Sendable (SubCallRequest) async -> [String]
