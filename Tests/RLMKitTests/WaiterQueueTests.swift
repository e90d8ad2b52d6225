import Testing
@testable import RLMKit

/// The one waiter queue: order of arrival, and cancellation, which every owner (limiter, balancer, run gate,
/// ledger, a session's turn, the REPL) relies on instead of handling it itself. A waiter resumed twice traps
/// (checked continuations); one never resumed hangs, which the time limit turns into a failure.
@Suite(.timeLimit(.minutes(1))) struct WaiterQueueTests {
    struct Refused: Error, Equatable {}

    /// Returns once `queue` holds `count` waiters.
    func waitUntil<Value, Note>(_ queue: WaiterQueue<Value, Note>, holds count: Int) async {
        while queue.count != count { await Task.yield() }
    }

    /// Starts a task that waits on `queue`, and returns once it is in the queue.
    func enqueue<Value: Sendable>(on queue: WaiterQueue<Value, Void>) async -> Task<Value, any Error> {
        let before = queue.count
        let task = Task { try await queue.wait() }
        await waitUntil(queue, holds: before + 1)
        return task
    }

    @Test func aTaskCancelledBeforeItWaitsThrowsWithoutJoining() async {
        let queue = WaiterQueue<Int, Void>()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await queue.wait()
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(queue.isEmpty)
        #expect(!queue.resumeFirst(with: 1))
    }

    @Test func aWaiterCancelledWhileWaitingLeavesTheQueueAndTheNextIsServed() async throws {
        let queue = WaiterQueue<Int, Void>()
        let first = await enqueue(on: queue)
        let second = await enqueue(on: queue)
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(queue.count == 1)
        #expect(queue.resumeFirst(with: 2))
        #expect(try await second.value == 2)
        #expect(!queue.resumeFirst(with: 3))
    }

    @Test func cancelRacingResumeResumesEachWaiterExactlyOnce() async throws {
        let queue = WaiterQueue<Int, Void>()
        var (handed, cancelled) = (0, 0)
        for round in 0..<2_000 {
            let task = await enqueue(on: queue)
            let resumed = await withTaskGroup(of: Bool?.self) { group in
                group.addTask { task.cancel(); return nil }
                group.addTask { queue.resumeFirst(with: round) }
                var resumed = false
                for await outcome in group { if let outcome { resumed = outcome } }
                return resumed
            }
            // The waiter got the value exactly when the resume says it handed it over; else it was cancelled.
            do {
                let value = try await task.value
                #expect(resumed && value == round)
                handed += 1
            } catch {
                #expect(!resumed && error is CancellationError)
                cancelled += 1
            }
            #expect(queue.isEmpty)
        }
        #expect(handed + cancelled == 2_000)
    }

    @Test func cancelRacingTheEnqueueNeverStrandsAWaiter() async {
        let queue = WaiterQueue<Void, Void>()
        for round in 0..<2_000 {
            let task = Task { try await queue.wait() }
            if round % 2 == 0 { await Task.yield() }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
        }
        #expect(queue.isEmpty)
    }

    @Test func waitersAreServedInOrderOfArrivalPastManyCancelledOnes() async throws {
        let queue = WaiterQueue<Int, Void>()
        var kept: [Task<Int, any Error>] = []
        var cancelled: [Task<Int, any Error>] = []
        for index in 0..<300 {
            let task = await enqueue(on: queue)
            if index % 3 == 0 { kept.append(task) } else { cancelled.append(task) }
        }
        for task in cancelled { task.cancel() }
        for task in cancelled { await #expect(throws: CancellationError.self) { try await task.value } }
        #expect(queue.count == kept.count)
        for index in kept.indices { #expect(queue.resumeFirst(with: index)) }
        for (index, task) in kept.enumerated() { #expect(try await task.value == index) }
        #expect(!queue.resumeFirst(with: -1))
    }

    @Test func resumeAllAndFailAllReachEveryWaiter() async throws {
        let queue = WaiterQueue<String, Void>()
        let resumed = [await enqueue(on: queue), await enqueue(on: queue), await enqueue(on: queue)]
        queue.resumeAll(with: "go")
        for task in resumed { #expect(try await task.value == "go") }
        #expect(queue.isEmpty)

        let failed = [await enqueue(on: queue), await enqueue(on: queue)]
        queue.failAll(Refused())
        for task in failed { await #expect(throws: Refused.self) { try await task.value } }
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
        #expect(try await tasks[0].value == 0)
        #expect(try await tasks[2].value == 20)
        #expect(try await tasks[4].value == 40)
        await #expect(throws: Refused.self) { try await tasks[5].value }
        #expect(queue.count == 2)
        // Those left waiting keep their order.
        #expect(queue.resumeFirst(with: 7))
        #expect(try await tasks[1].value == 7)
        tasks[3].cancel()
        await #expect(throws: CancellationError.self) { try await tasks[3].value }
    }

    /// An actor that checks its state and then waits, as every owner does.
    actor Gate {
        var open = false
        let queue = WaiterQueue<Void, Void>()
        func pass() async throws {
            if open { return }
            try await queue.wait()
        }
        func openUp() {
            open = true
            queue.resumeAll()
        }
    }

    @Test func anActorThatChecksThenWaitsMissesNoResume() async throws {
        // The wait joins the queue before the actor is free again, so an opening can never fall in between.
        for _ in 0..<2_000 {
            let gate = Gate()
            async let passed: Void = gate.pass()
            async let opened: Void = gate.openUp()
            _ = try await (passed, opened)
        }
    }
}
