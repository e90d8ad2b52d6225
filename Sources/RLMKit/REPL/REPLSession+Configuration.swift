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

/// Handles a sub-call request from the model's code; returns one string per prompt, in order.
public typealias SubCallHandler = @Sendable (SubCallRequest) async -> [String]
