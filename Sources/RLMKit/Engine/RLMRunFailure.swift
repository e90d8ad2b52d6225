/// A run that failed after the root model had answered at least once: the cause, and the best partial
/// answer with the usage spent so far. A run that fails before its first turn throws the cause itself.
public struct RLMRunFailure: Error, CustomStringConvertible, Sendable {
    /// What stopped the run (a ``ModelError``, a ``REPLError``…).
    public var error: any Error
    /// The partial result: `status` is `.partial`, `stopReason` is `"failed"`.
    public var partial: RLMResult
    public init(error: any Error, partial: RLMResult) {
        self.error = error
        self.partial = partial
    }
    public var description: String { String(describing: error) }
}
