import Testing
@testable import RLMKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The REPL's life cycle driven event by event, without Python: what the session must do at each step.
@Suite struct REPLSessionStateMachineTests {
    typealias Machine = REPLSession.StateMachine

    /// A machine with a ready interpreter whose process is `pid`.
    func readyMachine(pid: Int32 = 4242, maxRestarts: Int = 2) -> Machine {
        var machine = Machine(maxRestarts: maxRestarts)
        #expect(machine.incarnationStarting() == 1)
        #expect(machine.processStarted(pid: pid) == .none)
        #expect(machine.driverReady() == .resumeReadyWaiters)
        #expect(machine.state == .ready)
        return machine
    }

    @Test func aCellRunsAndFinishes() {
        var machine = readyMachine()
        #expect(machine.beginCell() == .run(cell: 1))
        #expect(machine.state == .running(cell: 1))
        #expect(machine.cellFinished(7) == false, "an answer for another cell is not this one's")
        #expect(machine.cellFinished(1) == true)
        #expect(machine.state == .ready)
        #expect(machine.beginCell() == .run(cell: 2))
    }

    @Test func aCellWaitsWhileTheInterpreterStarts() {
        var machine = Machine(maxRestarts: 1)
        #expect(machine.beginCell() == .waitUntilReady)
        _ = machine.incarnationStarting()
        #expect(machine.beginCell() == .waitUntilReady)
        _ = machine.driverReady()
        #expect(machine.beginCell() == .run(cell: 1))
    }

    @Test func aSecondConcurrentCellIsRejectedAndTheFirstStillFinishes() {
        var machine = readyMachine()
        #expect(machine.beginCell() == .run(cell: 1))
        #expect(machine.beginCell() == .reject(.busy))
        _ = machine.timeLimitReached(cell: 1)
        #expect(machine.beginCell() == .reject(.busy), "still busy while the first is being interrupted")
        #expect(machine.cellFinished(1) == true, "the rejected call did not take the first one's place")
        #expect(machine.beginCell() == .run(cell: 2))
        #expect(REPLError.busy.description.contains("not reentrant"))
    }

    @Test func shutdownWithLiveThreadsAsksTheDriverThenTerminatesThenKills() {
        // The code left threads running: the driver is asked to exit, and whatever they do, the process group
        // is sent SIGTERM and then SIGKILL, and the session ends without waiting for them.
        var machine = readyMachine(pid: 99)
        #expect(machine.shutdownRequested() == .askDriverToExit)
        #expect(machine.state == .shuttingDown)
        #expect(machine.shutdownDeadlinePassed(step: 0, term: SIGTERM, kill: SIGKILL) == .signal(SIGTERM, pid: 99))
        #expect(machine.shutdownDeadlinePassed(step: 1, term: SIGTERM, kill: SIGKILL) == .signal(SIGKILL, pid: 99))
        #expect(machine.incarnationEnded(.died("killed")) == .stop(cell: nil))
        #expect(machine.state == .gone(failure: nil))
        #expect(machine.incarnationStarting() == nil, "no successor after shutdown")
        #expect(machine.shutdownDeadlinePassed(step: 1, term: SIGTERM, kill: SIGKILL) == .none, "a reaped pid is never signalled")
        #expect(machine.beginCell() == .reject(.closed))
    }

    @Test func shutdownDuringACellKillsAtOnce() {
        var machine = readyMachine(pid: 77)
        _ = machine.beginCell()
        #expect(machine.shutdownRequested() == .kill(pid: 77, cell: 1))
        #expect(machine.shutdownRequested() == .none, "asked twice, acted once")
        #expect(machine.incarnationEnded(.died("killed")) == .stop(cell: nil), "the kill already finished the cell")
    }

    @Test func anInterruptDuringShutdownDoesNothing() {
        var machine = readyMachine()
        _ = machine.beginCell()
        _ = machine.shutdownRequested()
        #expect(machine.timeLimitReached(cell: 1) == .none)
        #expect(machine.graceExpired(cell: 1) == .none)
        #expect(machine.currentCell == nil)
        #expect(machine.incarnationEnded(.died("killed")) == .stop(cell: nil))
    }

    @Test func shutdownDuringAnInterruptKillsAndEnds() {
        var machine = readyMachine(pid: 55)
        _ = machine.beginCell()
        #expect(machine.timeLimitReached(cell: 1) == .interrupt(cell: 1))
        #expect(machine.shutdownRequested() == .kill(pid: 55, cell: 1))
        #expect(machine.graceExpired(cell: 1) == .none, "the grace timer of the interrupt does not kill twice")
        #expect(machine.incarnationEnded(.died("killed")) == .stop(cell: nil))
    }

    @Test func aCellThatIgnoresItsInterruptIsKilledAndReportedAsTimedOut() {
        var machine = readyMachine(pid: 31)
        _ = machine.beginCell()
        #expect(machine.timeLimitReached(cell: 1) == .interrupt(cell: 1))
        #expect(machine.timeLimitReached(cell: 1) == .none, "interrupted once")
        #expect(machine.refusedCell == 1)
        #expect(machine.graceExpired(cell: 1) == .killProcessGroup(31))
        let action = machine.incarnationEnded(.died("it was killed (SIGKILL)"))
        #expect(action == .restart(cell: 1, reason: "it did not stop after the cell timeout and was killed",
                                   timedOut: true, backOff: .milliseconds(50)))
    }

    @Test func deathDuringACellFinishesItAndRestarts() {
        var machine = readyMachine()
        _ = machine.beginCell()
        #expect(machine.incarnationEnded(.died("it exited with status 1")) ==
                .restart(cell: 1, reason: "it exited with status 1", timedOut: false, backOff: .milliseconds(50)))
        #expect(machine.state == .restarting)
        #expect(machine.beginCell() == .waitUntilReady)
        #expect(machine.incarnationStarting() == 2)
        _ = machine.processStarted(pid: 5)
        _ = machine.driverReady()
        #expect(machine.beginCell() == .run(cell: 2))
    }

    @Test func tooManyDeathsEndTheSession() {
        var machine = readyMachine(maxRestarts: 1)
        _ = machine.incarnationEnded(.died("first"))
        _ = machine.incarnationStarting()
        _ = machine.driverReady()
        _ = machine.beginCell()
        let action = machine.incarnationEnded(.died("second"))
        #expect(action == .fail(.init(error: .tooManyRestarts(2, "second"), cell: 1)))
        #expect(machine.beginCell() == .reject(.tooManyRestarts(2, "second")))
    }

    @Test func aHostilePeerIsKilledAndReplacedWithTheReasonTold() {
        var machine = readyMachine(pid: 12)
        _ = machine.beginCell()
        #expect(machine.protocolViolated("a line of more than 2 MiB without a newline") == .killProcessGroup(12))
        guard case .restart(let cell, let reason, let timedOut, _) = machine.incarnationEnded(.died("SIGKILL")) else {
            Issue.record("a hostile peer is replaced")
            return
        }
        #expect(cell == 1 && !timedOut)
        #expect(reason.contains("a line of more than 2 MiB without a newline") && reason.contains("hostile"))
        _ = machine.incarnationStarting()
        _ = machine.driverReady()
        #expect(machine.incarnationEnded(.died("plain")) ==
                .restart(cell: nil, reason: "plain", timedOut: false, backOff: .milliseconds(100)),
                "the violation belonged to the killed incarnation only")
    }

    @Test func aStartFailureEndsTheSessionAndFailsItsWaiters() {
        var machine = Machine(maxRestarts: 3)
        _ = machine.incarnationStarting()
        #expect(machine.startFailed(.contextUnloadable("too big")) == .init(error: .contextUnloadable("too big"), cell: nil))
        #expect(machine.incarnationEnded(.startFailure(.startFailed("exited"))) ==
                .fail(.init(error: .contextUnloadable("too big"), cell: nil)))
        #expect(machine.beginCell() == .reject(.contextUnloadable("too big")))
    }

    @Test func aProcessThatStartsAfterShutdownIsKilled() {
        var machine = Machine(maxRestarts: 1)
        _ = machine.incarnationStarting()
        #expect(machine.terminateRequested() == .kill(pid: nil, cell: nil))
        #expect(machine.processStarted(pid: 8) == .killProcessGroup(8))
        #expect(machine.driverReady() == .none)
        #expect(machine.incarnationEnded(.died("killed")) == .stop(cell: nil))
    }
}
