/// Failures of the REPL process that end a run.
public enum REPLError: Error, CustomStringConvertible, Sendable, Equatable {
    case driverMissing
    case contextUnloadable(String)
    case startFailed(String)
    case tooManyRestarts(Int, String)
    case closed
    /// ``REPLSession/execute(_:)`` was called while another cell of the same session was running.
    case busy

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
        case .busy:
            return "a cell is already running in this REPL session; execute is not reentrant: await the running "
                + "cell before sending the next, or give each concurrent task its own session."
        }
    }
}
