/// The fork events of ``REPLSession/StateMachine``: a pristine REPL forks copies and runs no cell of its own.
extension REPLSession.StateMachine {
    enum ForkAdmission: Sendable, Equatable {
        /// Send the fork request with this id; the driver answers it like a host command.
        case fork(id: Int)
        /// The interpreter is (re)starting: wait until it is ready, then ask again.
        case waitUntilReady
        case reject(REPLError)
    }

    /// A caller wants a forked copy of this interpreter. Only a pristine one forks: loaded, and never ran a
    /// cell (its copies would inherit what the code left). Forks do not take the cell slot: several may be
    /// in flight, and the driver answers them in order.
    mutating func beginFork() -> ForkAdmission {
        guard nextCellID == 1 else {
            return .reject(.forkFailed("this REPL has run code, so it is no longer pristine"))
        }
        switch state {
        case .ready:
            forks += 1
            return .fork(id: forks)
        case .starting, .restarting:
            return .waitUntilReady
        case .running, .interrupting:
            return .reject(.forkFailed("this REPL is running a host command"))
        case .shuttingDown:
            return .reject(.closed)
        case .gone(let failure):
            return .reject(failure ?? .closed)
        }
    }
}
