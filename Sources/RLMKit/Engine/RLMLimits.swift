/// Limits of one run.
public struct RLMLimits: Sendable {
    /// Root-loop turns before the final "answer now" turn.
    public var maxIterations: Int
    /// Sub-calls in flight at once.
    public var maxConcurrency: Int
    /// Levels of the tree that have a REPL. At 1, `rlm_query` is a plain sub-model call.
    public var maxDepth: Int

    public init(maxIterations: Int = 30, maxConcurrency: Int = 16, maxDepth: Int = 1) {
        self.maxIterations = max(1, maxIterations)
        self.maxConcurrency = max(1, maxConcurrency)
        self.maxDepth = max(1, maxDepth)
    }
}
