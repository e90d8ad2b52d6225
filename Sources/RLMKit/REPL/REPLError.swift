/// Failures of the REPL process that end a run.
public enum REPLError: Error, CustomStringConvertible, Sendable, Equatable {
    case driverMissing
    case contextUnloadable(String)
    case startFailed(String)
    case tooManyRestarts(Int, String)
    case closed
    /// ``REPLSession/execute(_:)`` was called while another cell of the same session was running.
    case busy
    /// A forked copy of a pristine REPL could not be set up with the isolation its sandbox level promises.
    case forkFailed(String)
    /// A cell was sent to a pristine REPL that forks copies: it runs no code of its own.
    case pristine

    public var description: String {
        switch self {
        case .driverMissing:
            return "the REPL driver script (rlm_driver.py) was not compiled into this build (the EmbedResources plugin embeds RLMKit/REPL/Resources); rebuild rlm from a full checkout, or reinstall it."
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
        case .forkFailed(let detail):
            return "a copy of the loaded REPL could not be forked with its sandbox's isolation (\(detail)); "
                + "the context is loaded anew instead."
        case .pristine:
            return "this REPL holds a loaded context for forking copies and runs no code itself; run cells in a copy."
        }
    }
}
