/// A failed `rlm_ask` call, told to the client as a tool error (`isError`): what went wrong and how to fix it.
public struct ToolFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var cause: String
    /// What the caller can do about it.
    public var fix: String

    public init(_ cause: String, fix: String) {
        self.cause = cause
        self.fix = fix
    }

    public var description: String { fix.isEmpty ? cause : "\(cause) \(fix)" }
}
