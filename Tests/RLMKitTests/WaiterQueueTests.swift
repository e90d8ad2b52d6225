import Synchronization
import Testing
@testable import RLMKit

/// The one waiter queue: order of arrival, and cancellation, which every owner (limiter, balancer, run gate,
/// ledger, a session's turn, the REPL) relies on instead of handling it itself. A waiter resumed twice traps
/// (checked continuations); one never resumed would hang, so each result is awaited with a deadline.
@Suite(.timeLimit(.minutes(1))) struct WaiterQueueTests {
    struct Refused: Error, Equatable {}
    struct Hung: Error {}

    /// Returns once `queue` holds `count` waiters, or after 10 s.
    func waitUntil<Value, Note>(_ queue: WaiterQueue<Value, Note>, holds count: Int) async {
        let deadline = ContinuousClock.now + .seconds(10)
        while queue.count != count, ContinuousClock.now < deadline { await Task.yield() }
    }

    /// The task's outcome, or `Hung` if it has not finished within 10 s: a waiter nobody resumes ignores the
    /// test's own cancellation, so it is left behind rather than awaited.
    func settled<Value: Sendable>(_ task: Task<Value, any Error>) async -> Result<Value, any Error> {
        let once = FirstOutcome<Value>()
        return await withCheckedContinuation { continuation in
            once.continuation.withLock { $0 = continuation }
            Task { once.resume(await task.result) }
            Task {
                try? await Task.sleep(for: .seconds(10))
                once.resume(.failure(Hung()))
            }
        }
    }

    /// Starts a task that waits on `queue`, and returns once it is in the queue.
    func enqueue<Value: Sendable>(on queue: WaiterQueue<Value, Void>) async -> Task<Value, any Error> {
        let before = queue.count
        let task = Task { try await queue.wait() }
        await waitUntil(queue, holds: before + 1)
        return task
    }

    /// An owner that is not an actor keeps a value handed over while nobody waits, under the queue's lock.
    final class KeptValue: Sendable {
        let slot = Mutex<Int?>(nil)
        let queue = WaiterQueue<Int, Void>()
        func take() -> Int? { slot.withLock { value in defer { value = nil }; return value } }
        func hand(_ value: Int) { queue.resumeFirst(with: value) { kept in slot.withLock { $0 = kept } } }
    }

    @Test func aValueHandedOverBeforeTheWaitIsFoundByItAndOneHandedOverDuringItReachesTheWaiter() async throws {
        let owner = KeptValue()
        owner.hand(1)
        #expect(owner.slot.withLock { $0 } == 1, "nobody waited: the owner kept it")
        #expect(try await owner.queue.wait(unlessReady: owner.take) == 1)
        let waiting = Task { try await owner.queue.wait(unlessReady: owner.take) }
        await waitUntil(owner.queue, holds: 1)
        owner.hand(2)
        #expect(try await settled(waiting).get() == 2)
        #expect(owner.slot.withLock { $0 } == nil, "handed to the waiter, not kept as well")
    }

    @Test func handOverRacingTheCheckNeverStrandsTheValue() async throws {
        // The check and the keep both run with the queue locked: whichever goes first, the waiter gets the value.
        for round in 0..<200 {
            let owner = KeptValue()
            let line = StartLine()
            let waiting = Task {
                line.meet()
                return try await owner.queue.wait(unlessReady: owner.take)
            }
            line.meet()
            owner.hand(round)
            #expect(try await settled(waiting).get() == round)
        }
    }

    @Test func aCancelledWaiterLeavesAndTheValueIsKept() async throws {
        let owner = KeptValue()
        let waiting = Task { try await owner.queue.wait(unlessReady: owner.take) }
        await waitUntil(owner.queue, holds: 1)
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await settled(waiting).get() }
        owner.hand(3)
        #expect(owner.slot.withLock { $0 } == 3, "nothing handed to the cancelled waiter is lost")
    }

    @Test func aTaskCancelledBeforeItWaitsThrowsWithoutJoining() async {
        let queue = WaiterQueue<Int, Void>()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await queue.wait()
        }
        await #expect(throws: CancellationError.self) { try await settled(task).get() }
        #expect(queue.isEmpty)
        #expect(!queue.resumeFirst(with: 1))
    }

    @Test func aWaiterCancelledWhileWaitingLeavesTheQueueAndTheNextIsServed() async throws {
        let queue = WaiterQueue<Int, Void>()
        let first = await enqueue(on: queue)
        let second = await enqueue(on: queue)
        first.cancel()
        await #expect(throws: CancellationError.self) { try await settled(first).get() }
        #expect(queue.count == 1)
        #expect(queue.resumeFirst(with: 2))
        #expect(try await settled(second).get() == 2)
        #expect(!queue.resumeFirst(with: 3))
    }

    /// Lets two tasks act at nearly the same moment: each spins (a bounded while) until the other arrives.
    final class StartLine: Sendable {
        let arrived = Atomic(0)
        func meet() {
            arrived.add(1, ordering: .relaxed)
            var spins = 0
            while arrived.load(ordering: .relaxed) < 2, spins < 100_000 { spins += 1 }
        }
    }

    @Test func cancelRacingResumeResumesEachWaiterExactlyOnce() async throws {
        let queue = WaiterQueue<Int, Void>()
        var (handed, cancelled) = (0, 0)
        for round in 0..<400 {
            let task = await enqueue(on: queue)
            let line = StartLine()
            let resumed = await withTaskGroup(of: Bool?.self) { group in
                group.addTask { line.meet(); task.cancel(); return nil }
                group.addTask { line.meet(); return queue.resumeFirst(with: round) }
                var resumed = false
                for await outcome in group { if let outcome { resumed = outcome } }
                return resumed
            }
            // The waiter got the value exactly when the resume says it handed it over; else it was cancelled.
            do {
                let value = try await settled(task).get()
                #expect(resumed && value == round)
                handed += 1
            } catch {
                #expect(!resumed && error is CancellationError)
                cancelled += 1
            }
            #expect(queue.isEmpty)
        }
        #expect(handed + cancelled == 400)
    }

    @Test func cancelRacingTheEnqueueNeverStrandsAWaiter() async {
        let queue = WaiterQueue<Void, Void>()
        for round in 0..<400 {
            let task = Task { try await queue.wait() }
            if round % 2 == 0 { await Task.yield() }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await settled(task).get() }
        }
        #expect(queue.isEmpty)
    }

    @Test func waitersAreServedInOrderOfArrivalPastManyCancelledOnes() async throws {
        let queue = WaiterQueue<Int, Void>()
        var kept: [Task<Int, any Error>] = []
        var cancelled: [Task<Int, any Error>] = []
        for index in 0..<90 {
            let task = await enqueue(on: queue)
            if index % 3 == 0 { kept.append(task) } else { cancelled.append(task) }
        }
        for task in cancelled { task.cancel() }
        for task in cancelled { await #expect(throws: CancellationError.self) { try await settled(task).get() } }
        #expect(queue.count == kept.count)
        for index in kept.indices { #expect(queue.resumeFirst(with: index)) }
        for (index, task) in kept.enumerated() { #expect(try await settled(task).get() == index) }
        #expect(!queue.resumeFirst(with: -1))
    }

    @Test func resumeAllAndFailAllReachEveryWaiter() async throws {
        let queue = WaiterQueue<String, Void>()
        let resumed = [await enqueue(on: queue), await enqueue(on: queue), await enqueue(on: queue)]
        queue.resumeAll(with: "go")
        for task in resumed { #expect(try await settled(task).get() == "go") }
        #expect(queue.isEmpty)

        let failed = [await enqueue(on: queue), await enqueue(on: queue)]
        queue.failAll(Refused())
        for task in failed { await #expect(throws: Refused.self) { try await settled(task).get() } }
        #expect(queue.isEmpty)
    }

    @Test func serveInOrderHandsOutWhatEachWaiterGetsAndLeavesTheRest() async throws {
        let queue = WaiterQueue<Int, Int>()
        var tasks: [Task<Int, any Error>] = []
        for note in 0..<6 {
            tasks.append(Task { try await queue.wait(noting: note) })
            await waitUntil(queue, holds: note + 1)
        }
        var offered: [Int] = []
        queue.serveInOrder { note in
            offered.append(note)
            if note == 5 { return .failure(Refused()) }
            return note.isMultiple(of: 2) ? .success(note * 10) : nil
        }
        #expect(offered == [0, 1, 2, 3, 4, 5])
        #expect(try await settled(tasks[0]).get() == 0)
        #expect(try await settled(tasks[2]).get() == 20)
        #expect(try await settled(tasks[4]).get() == 40)
        await #expect(throws: Refused.self) { try await settled(tasks[5]).get() }
        #expect(queue.count == 2)
        // Those left waiting keep their order.
        #expect(queue.resumeFirst(with: 7))
        #expect(try await settled(tasks[1]).get() == 7)
        tasks[3].cancel()
        await #expect(throws: CancellationError.self) { try await settled(tasks[3]).get() }
    }

    /// An actor that checks its state and then waits, as every owner does.
    actor Gate {
        var open = false
        var entered = false
        let queue = WaiterQueue<Void, Void>()
        func pass() async throws {
            if open { return }
            entered = true
            try await queue.wait()
        }
        /// Whether a task got past the check without being in the queue yet; nil while none got past it.
        func enteredButNotQueued() -> Bool? { entered ? queue.isEmpty : nil }
        /// Starts a task that passes, and right behind it on this actor one that probes.
        func passThenProbe() -> (passer: Task<Void, any Error>, probe: Task<Bool?, Never>) {
            (Task { try await self.pass() }, Task { self.enteredButNotQueued() })
        }
        func openUp() {
            open = true
            queue.resumeAll()
        }
    }

    @Test func anActorThatChecksThenWaitsIsInTheQueueBeforeTheActorRunsAnythingElse() async throws {
        // Were the wait to leave the actor before joining the queue, the probe waiting next on the actor would
        // run in between, and so could an opening, which would then be missed.
        var probed = 0
        for _ in 0..<150 {
            let gate = Gate()
            let (passer, probe) = await gate.passThenProbe()
            let gap = await probe.value
            #expect(gap != true)
            if gap != nil { probed += 1 }
            await gate.openUp()
            await #expect(throws: Never.self) { try await settled(passer).get() }
        }
        #expect(probed > 0)
    }
}

/// Resumes the one continuation it holds with whichever outcome comes first.
private final class FirstOutcome<Value: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<Result<Value, any Error>, Never>?>(nil)
    func resume(_ result: Result<Value, any Error>) { continuation.withLock { $0.take() }?.resume(returning: result) }
}
