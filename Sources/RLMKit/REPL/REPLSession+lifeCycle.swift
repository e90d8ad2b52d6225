#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting, supervising and stopping the interpreter: the actor's side of ``REPLSession/StateMachine``.
extension REPLSession {
    /// Returns once the interpreter is ready (or running a cell); throws if the session failed or stopped.
    func waitUntilReady() async throws {
        while true {
            switch machine.state {
            case .ready, .running, .interrupting: return
            case .starting, .restarting: try await waitForReadyEvent()
            case .shuttingDown: throw REPLError.closed
            case .gone(let failure): throw failure ?? .closed
            }
        }
    }

    /// Waits for the next ready (or failure) event; a cancelled caller leaves at once.
    func waitForReadyEvent() async throws {
        try await readyWaiters.wait()
    }

    func resumeReadyWaiters(throwing error: REPLError? = nil) {
        if let error { readyWaiters.failAll(error) } else { readyWaiters.resumeAll() }
    }

    /// Asks the driver to exit and lets the supervisor wind down; never waits on what the code left running:
    /// a driver still there after ``shutdownGrace`` is sent SIGTERM, and SIGKILL ``shutdownGrace`` / 2 later.
    func shutdown() {
        let action = machine.shutdownRequested()
        cancelSubCalls()
        resumeReadyWaiters(throwing: .closed)
        switch action {
        case .askDriverToExit:
            send(.shutdown)
            outgoing?.finish()
            shutdownDeadline = Task {
                for step in 0..<2 {
                    do { try await Task.sleep(for: step == 0 ? Self.shutdownGrace : Self.shutdownGrace / 2) } catch { return }
                    self.shutdownDeadlinePassed(step: step)
                }
            }
        case .kill(let pid, let cell):
            stop(pid: pid, cell: cell, reason: "the REPL was shut down")
        case .none:
            break
        }
    }

    /// Time the driver gets to exit after `shutdown` before its process group is terminated.
    static let shutdownGrace: Duration = .seconds(1)

    private func shutdownDeadlinePassed(step: Int) {
        if case .signal(let signal, let pid) = machine.shutdownDeadlinePassed(step: step, term: SIGTERM, kill: SIGKILL) {
            kill(-pid, signal)
            kill(pid, signal)
        }
    }

    /// Kills the interpreter at once (cancellation, failure), and with it every sub-call it was waiting on.
    func terminate() {
        let action = machine.terminateRequested()
        cancelSubCalls()
        resumeReadyWaiters(throwing: .closed)
        if case .kill(let pid, let cell) = action {
            stop(pid: pid, cell: cell, reason: "the run was cancelled")
        }
    }

    private func stop(pid: Int32?, cell: Int?, reason: String) {
        if let pid { Self.killProcessGroup(pid) }
        outgoing?.finish()
        connection?.close(promise: nil)
        finishPendingCell(cell, deathReason: reason, restarted: false)
    }

    func perform(_ action: StateMachine.ProcessAction) {
        if case .killProcessGroup(let pid) = action { Self.killProcessGroup(pid) }
    }

    /// Kills what is left of the current interpreter's process group.
    func killProcessGroup() {
        if let pid = machine.processID { Self.killProcessGroup(pid) }
    }

    static func killProcessGroup(_ pid: Int32) {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }

    /// Keeps an interpreter running until shutdown: starts one, and starts a fresh one when it dies.
    func supervise() async throws {
        while let generation = machine.incarnationStarting() {
            let end = await runIncarnation(generation: generation)
            switch machine.incarnationEnded(end) {
            case .stop(let cell):
                shutdownDeadline?.cancel()
                finishPendingCell(cell, deathReason: "the REPL was shut down", restarted: false)
                resumeReadyWaiters(throwing: .closed)
                return
            case .fail(let failure):
                finishPendingCell(failure.cell, deathReason: failure.error.description, restarted: false)
                resumeReadyWaiters(throwing: failure.error)
                throw failure.error
            case .restart(let cell, let reason, let timedOut, let backOff):
                finishPendingCell(cell, deathReason: reason, timedOut: timedOut, restarted: true)
                await settleBeforeRestart(backOff: backOff)
            }
        }
    }

    /// Waits until the dead interpreter's processes are really gone (a fork bomb keeps its process group
    /// full for a moment after the kill) and backs off a little more with each restart, so that a successor
    /// is not refused a fork and a crash loop does not spend every restart in a few milliseconds.
    private func settleBeforeRestart(backOff: Duration) async {
        if let processCap { _ = await processCap.drain() }
        try? await Task.sleep(for: backOff)
    }
}
