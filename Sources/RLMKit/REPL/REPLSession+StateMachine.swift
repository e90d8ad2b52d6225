extension REPLSession {
    /// The life cycle of a REPL session as a plain value: every event returns what the actor must do, and the
    /// actor does only that. It holds no process, socket or continuation, so it can be driven without Python.
    ///
    /// ```
    /// starting ──ready──▶ ready ──beginCell──▶ running(cell) ──timeLimitReached──▶ interrupting(cell)
    ///    ▲                  ▲  ◀──cellFinished──┘        │                                 │ graceExpired: kill
    ///    └──restart── restarting ◀──incarnationEnded (died)──────────────────────────────────┘
    /// any ──shutdownRequested / terminateRequested──▶ shuttingDown ──incarnationEnded──▶ gone
    /// ```
    ///
    /// One cell at a time: ``REPLSession/execute(_:)`` is not reentrant, and a second call while a cell runs
    /// fails at once with ``REPLError/busy`` instead of waiting (a queue would hide a caller's bug and could
    /// wait behind a cell for its whole time limit).
    struct StateMachine: Sendable {
        enum State: Sendable, Equatable {
            /// An interpreter is starting and loading the context.
            case starting
            /// Idle, waiting for a cell.
            case ready
            case running(cell: Int)
            /// The cell passed its time limit and was sent an interrupt; it is killed if it does not stop.
            case interrupting(cell: Int)
            /// The interpreter died; a successor starts after a short back-off.
            case restarting
            /// Stopping for good: the driver was asked to exit, and is killed if it does not.
            case shuttingDown
            /// No interpreter runs and none will; `failure` says why, nil after a normal shutdown.
            case gone(failure: REPLError?)
        }

        private(set) var state: State = .starting
        private(set) var processID: Int32?
        /// Deaths so far; the session gives up after `maxRestarts`.
        private(set) var restarts = 0
        /// Counts incarnations, so that each gets its own socket.
        private(set) var generation = 0
        /// The cell whose sub-calls are refused: it was interrupted at its time limit.
        private(set) var refusedCell: Int?
        private(set) var nextCellID = 1
        /// Forks asked of this REPL so far (only ``beginFork()`` counts them): once it has forked a copy it is a
        /// pristine and runs no cell.
        var forks = 0
        /// The host killed the interpreter because a cell would not stop.
        private var killedByHost = false
        /// Why the host killed a peer that broke the channel protocol.
        private var violation: String?
        let maxRestarts: Int

        init(maxRestarts: Int) {
            self.maxRestarts = maxRestarts
        }

        /// The running cell (also while it is being interrupted).
        var currentCell: Int? {
            switch state {
            case .running(let cell), .interrupting(let cell): return cell
            default: return nil
            }
        }

        var isStopping: Bool {
            switch state {
            case .shuttingDown, .gone: return true
            default: return false
            }
        }

        // MARK: Incarnations

        /// A new interpreter is about to start; nil when the session is stopping and none may start.
        mutating func incarnationStarting() -> Int? {
            guard !isStopping else { return nil }
            state = .starting
            generation += 1
            killedByHost = false
            violation = nil
            return generation
        }

        enum ProcessAction: Sendable, Equatable { case none, killProcessGroup(Int32) }

        mutating func processStarted(pid: Int32) -> ProcessAction {
            processID = pid
            return isStopping ? .killProcessGroup(pid) : .none
        }

        enum ReadyAction: Sendable, Equatable { case resumeReadyWaiters, none }

        /// The driver loaded the context and said so.
        mutating func driverReady() -> ReadyAction {
            guard state == .starting else { return .none }
            state = .ready
            return .resumeReadyWaiters
        }

        /// The driver could not start (its context does not load, say): waiters get `error`, and the session ends.
        mutating func startFailed(_ error: REPLError) -> FailAction {
            guard !isStopping else { return FailAction(error: error, cell: nil) }
            let cell = currentCell
            state = .gone(failure: error)
            return FailAction(error: error, cell: cell)
        }

        /// Fails the waiters (and the running cell, if any) with `error`.
        struct FailAction: Sendable, Equatable {
            var error: REPLError
            var cell: Int?
        }

        /// The peer broke the channel protocol (an oversized, malformed or flooding message): it is hostile.
        mutating func protocolViolated(_ reason: String) -> ProcessAction {
            if violation == nil { violation = reason }
            guard let processID else { return .none }
            return .killProcessGroup(processID)
        }

        enum IncarnationEnd: Sendable, Equatable {
            /// It never got ready; restarting would fail the same way.
            case startFailure(REPLError)
            case died(String)
        }

        enum IncarnationAction: Sendable, Equatable {
            /// Finish `cell` (if any) as failed with `reason`, back off, then start a successor.
            case restart(cell: Int?, reason: String, timedOut: Bool, backOff: Duration)
            /// The session ends with `error`: fail the waiters and `cell`.
            case fail(FailAction)
            /// The session was stopping: finish `cell` (if any) and stop supervising.
            case stop(cell: Int?)
        }

        /// The interpreter process is gone (it exited, was killed, or its channel closed and it was reaped).
        mutating func incarnationEnded(_ end: IncarnationEnd) -> IncarnationAction {
            let cell = currentCell
            processID = nil
            switch state {
            case .shuttingDown, .gone(failure: .none):
                state = .gone(failure: nil)
                return .stop(cell: cell)
            case .gone(let failure?):
                return .fail(FailAction(error: failure, cell: cell))
            default:
                break
            }
            let reason: String
            switch end {
            case .startFailure(let error) where violation == nil:
                state = .gone(failure: error)
                return .fail(FailAction(error: error, cell: cell))
            case .startFailure(let error):
                reason = violation.map(Self.hostileReason) ?? error.description
            case .died(let died):
                reason = violation.map(Self.hostileReason) ?? (killedByHost
                    ? "it did not stop after the cell timeout and was killed" : died)
            }
            restarts += 1
            if restarts > maxRestarts {
                let error = REPLError.tooManyRestarts(restarts, reason)
                state = .gone(failure: error)
                return .fail(FailAction(error: error, cell: cell))
            }
            state = .restarting
            return .restart(cell: cell, reason: reason, timedOut: killedByHost && violation == nil,
                            backOff: .milliseconds(50 * restarts))
        }

        static func hostileReason(_ violation: String) -> String {
            "the code broke the REPL's message channel (\(violation)), so the host treated it as hostile, killed it "
                + "and started a fresh one"
        }

        // MARK: Cells

        enum CellAdmission: Sendable, Equatable {
            case run(cell: Int)
            /// The interpreter is (re)starting: wait until it is ready, then ask again.
            case waitUntilReady
            case reject(REPLError)
        }

        /// A caller wants to run a cell (or a host command answered like one).
        mutating func beginCell() -> CellAdmission {
            if forks > 0, !isStopping { return .reject(.pristine) }
            switch state {
            case .ready:
                let cell = nextCellID
                nextCellID += 1
                state = .running(cell: cell)
                return .run(cell: cell)
            case .starting, .restarting:
                return .waitUntilReady
            case .running, .interrupting:
                return .reject(.busy)
            case .shuttingDown:
                return .reject(.closed)
            case .gone(let failure):
                return .reject(failure ?? .closed)
            }
        }

        /// The driver answered `cell`; true when it was the running cell, whose caller is to be resumed.
        mutating func cellFinished(_ cell: Int) -> Bool {
            guard currentCell == cell else { return false }
            if case .running = state { state = .ready } else if case .interrupting = state { state = .ready }
            return true
        }

        enum InterruptAction: Sendable, Equatable {
            /// Refuse and cancel the cell's sub-calls, send the driver an interrupt, and call
            /// ``graceExpired(cell:)`` after the grace period.
            case interrupt(cell: Int)
            case none
        }

        /// `cell` ran past its time limit (or the question's deadline passed while it ran).
        mutating func timeLimitReached(cell: Int) -> InterruptAction {
            guard case .running(cell) = state else { return .none }
            state = .interrupting(cell: cell)
            refusedCell = cell
            return .interrupt(cell: cell)
        }

        /// The grace period after an interrupt ended: kill the interpreter if the cell is still running.
        mutating func graceExpired(cell: Int) -> ProcessAction {
            guard case .interrupting(cell) = state, let processID else { return .none }
            killedByHost = true
            return .killProcessGroup(processID)
        }

        // MARK: Stopping

        enum ShutdownAction: Sendable, Equatable {
            /// The driver is idle: ask it to exit, fail the ready waiters with ``REPLError/closed``, and call
            /// ``shutdownDeadlinePassed()`` if the process is still there after the grace period.
            case askDriverToExit
            /// Kill the process group now, finish `cell` (if any) and fail the ready waiters.
            case kill(pid: Int32?, cell: Int?)
            case none
        }

        /// The session's body ended: stop, without ever waiting on threads or processes the code left running.
        mutating func shutdownRequested() -> ShutdownAction {
            switch state {
            case .ready:
                state = .shuttingDown
                return .askDriverToExit
            case .starting, .running, .interrupting, .restarting:
                return terminateRequested()
            case .shuttingDown, .gone:
                return .none
            }
        }

        /// The run was cancelled or failed: kill at once.
        mutating func terminateRequested() -> ShutdownAction {
            switch state {
            case .gone:
                return .none
            case .shuttingDown:
                return processID.map { .kill(pid: $0, cell: nil) } ?? .none
            default:
                let cell = currentCell
                state = .shuttingDown
                return .kill(pid: processID, cell: cell)
            }
        }

        enum DeadlineAction: Sendable, Equatable {
            case none
            /// Send `signal` to the process group (SIGTERM first, then SIGKILL).
            case signal(Int32, pid: Int32)
        }

        /// The driver did not exit in time after being asked: `step` 0 terminates it, any later step kills it.
        func shutdownDeadlinePassed(step: Int, term: Int32, kill: Int32) -> DeadlineAction {
            guard state == .shuttingDown, let processID else { return .none }
            return .signal(step == 0 ? term : kill, pid: processID)
        }
    }
}
