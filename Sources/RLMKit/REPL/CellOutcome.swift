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

extension CellOutcome {
    /// The outcome of a cell whose interpreter died or was stopped before it answered.
    static func lost(reason: String, restarted: Bool) -> CellOutcome {
        CellOutcome(stdout: "", stderr: "", stdoutTotal: 0, stderrTotal: 0, failed: true, errorType: nil,
                    timedOut: false, interpreterRestarted: restarted, deathReason: reason,
                    final: nil, finalSource: nil, restoredNames: [], seconds: 0)
    }
}
