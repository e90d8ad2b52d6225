import Testing
@testable import RLMKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The forked path of the REPL's life cycle, without Python: a pristine REPL that forks copies and never runs a
/// cell, and a copy whose process is adopted from its socket instead of started by the host.
@Suite struct REPLSessionStateMachineForkTests {
    typealias Machine = REPLSession.StateMachine

    /// A machine with a ready interpreter whose process is `pid` (a pristine one, until it runs a cell).
    func readyMachine(pid: Int32 = 4242) -> Machine { REPLSessionStateMachineTests().readyMachine(pid: pid) }

    @Test func aPristineForksManyCopiesAtOnceAndRunsNoCellOfItsOwn() {
        var machine = readyMachine()
        #expect(machine.beginFork() == .fork(id: 1))
        #expect(machine.beginFork() == .fork(id: 2), "forks do not take the cell slot")
        #expect(machine.state == .ready)
        #expect(machine.beginCell() == .reject(.pristine), "a REPL that forked copies never runs code itself")
        #expect(machine.beginFork() == .fork(id: 3))
    }

    @Test func aREPLThatRanCodeIsNeverForked() {
        var machine = readyMachine()
        #expect(machine.beginCell() == .run(cell: 1))
        #expect(machine.cellFinished(1) == true)
        guard case .reject(.forkFailed(let reason)) = machine.beginFork() else {
            Issue.record("a REPL that ran a cell was forked")
            return
        }
        #expect(reason.contains("no longer pristine"))
    }

    @Test func aForkWaitsWhileThePristineLoadsAndIsRefusedOnceItStops() {
        var machine = Machine(maxRestarts: 1)
        #expect(machine.beginFork() == .waitUntilReady)
        _ = machine.incarnationStarting()
        #expect(machine.beginFork() == .waitUntilReady)
        _ = machine.driverReady()
        #expect(machine.beginFork() == .fork(id: 1))
        #expect(machine.shutdownRequested() == .askDriverToExit)
        #expect(machine.beginFork() == .reject(.closed))
        #expect(machine.incarnationEnded(.died("exited")) == .stop(cell: nil))
        #expect(machine.beginFork() == .reject(.closed))
    }

    @Test func aCopyStoppedBeforeItConnectedIsKilledTheMomentItsProcessIsKnown() {
        // An adopted copy has no process id until it connects (from SO_PEERCRED). A shutdown before that has
        // nothing to kill yet; the copy that connects afterwards is killed at once.
        var machine = Machine(maxRestarts: 2)
        _ = machine.incarnationStarting()
        #expect(machine.shutdownRequested() == .kill(pid: nil, cell: nil))
        #expect(machine.processStarted(pid: 3131) == .killProcessGroup(3131))
        #expect(machine.incarnationEnded(.died("its channel closed")) == .stop(cell: nil))
        #expect(machine.state == .gone(failure: nil))
    }

    @Test func shutdownOfAnAdoptedCopyWithALiveThreadSignalsItsProcessWithinTheGrace() {
        // The copy's code left a non-daemon thread sleeping: the driver is asked to exit, then the adopted
        // process (PID 1 of its own namespace, so everything it started goes with it) is terminated and killed.
        var machine = Machine(maxRestarts: 2)
        _ = machine.incarnationStarting()
        #expect(machine.processStarted(pid: 5150) == .none)
        _ = machine.driverReady()
        #expect(machine.shutdownRequested() == .askDriverToExit)
        #expect(machine.shutdownDeadlinePassed(step: 0, term: SIGTERM, kill: SIGKILL) == .signal(SIGTERM, pid: 5150))
        #expect(machine.shutdownDeadlinePassed(step: 1, term: SIGTERM, kill: SIGKILL) == .signal(SIGKILL, pid: 5150))
        #expect(machine.incarnationEnded(.died("its channel closed")) == .stop(cell: nil))
    }

    @Test func aCopyThatCannotBeWalledOffEndsTheSessionWithoutARetry() {
        // The fork failed under strict (say, the kernel refused a user namespace): no restart, no downgrade;
        // the error reaches the caller, who loads the context anew.
        var machine = Machine(maxRestarts: 3)
        _ = machine.incarnationStarting()
        let failure = REPLError.forkFailed("unshare: Operation not permitted")
        #expect(machine.incarnationEnded(.startFailure(failure)) == .fail(.init(error: failure, cell: nil)))
        #expect(machine.state == .gone(failure: failure))
        #expect(machine.beginCell() == .reject(failure))
        #expect(machine.incarnationStarting() == nil)
        #expect(failure.description.contains("loaded anew"))
    }

    @Test func aCopyThatDiesDuringACellIsReplacedByAFreshFork() {
        var machine = Machine(maxRestarts: 2)
        _ = machine.incarnationStarting()
        _ = machine.processStarted(pid: 6000)
        _ = machine.driverReady()
        #expect(machine.beginCell() == .run(cell: 1))
        guard case .restart(let cell, _, _, _) = machine.incarnationEnded(.died("its channel closed")) else {
            Issue.record("a copy that died mid-cell was not replaced")
            return
        }
        #expect(cell == 1)
        #expect(machine.processID == nil, "the dead copy's process id is forgotten, never signalled again")
        #expect(machine.incarnationStarting() == 2)
        #expect(machine.processStarted(pid: 6001) == .none)
        _ = machine.driverReady()
        #expect(machine.beginCell() == .run(cell: 2))
    }
}
