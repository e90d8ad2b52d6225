import DequeModule
import Synchronization

/// Tasks waiting for something another task hands out (a slot, a turn, a value), first come, first served.
///
/// The one waiter queue of the package: the limiter, the replica balancer, the run gate, the ledger, a session's
/// turn, the REPL's waiters and its socket listener all park their callers here, so cancellation is handled, and
/// tested, once. A cancelled waiter leaves the queue and throws `CancellationError`; a waiter is resumed exactly
/// once, whichever of cancellation and a resume comes first. The owner keeps its own state and decides when to
/// resume; a resume that hands something over (a slot, a turn) returns whether a waiter took it, so nothing handed
/// to a waiter that was just cancelled is lost.
///
/// A class guarding its waiters with a `Mutex` rather than a value inside the owning actor: the cancellation
/// handler runs on whatever thread cancels the task, and with the lock it removes and resumes its waiter there and
/// then. A value inside an actor would need an unstructured task to hop back to the actor, so a cancelled waiter
/// would linger in the queue for a while, and owners that are not actors (a socket listener) could not use it.
/// ``wait(noting:isolation:)`` runs on the caller's actor until it suspends, so an owner that checks its state and
/// then waits cannot miss a resume made in between.
///
/// Each waiter may carry a `Note` its owner reads when choosing whom to serve (the replicas a request already
/// tried); queues that need none use `Void`.
package final class WaiterQueue<Value: Sendable, Note: Sendable>: Sendable {
    private struct Waiter {
        var note: Note
        var continuation: CheckedContinuation<Value, any Error>
    }

    private struct State {
        /// Ids in order of arrival. A cancelled waiter's id stays until it reaches the front or is swept.
        var order: Deque<Int> = []
        var waiting: [Int: Waiter] = [:]
        var nextID = 0

        mutating func removeFirst() -> Waiter? {
            while let id = order.popFirst() {
                if let waiter = waiting.removeValue(forKey: id) { return waiter }
            }
            return nil
        }

        mutating func remove(_ id: Int) -> Waiter? {
            guard let waiter = waiting.removeValue(forKey: id) else { return nil }
            // Sweep ids left by cancelled waiters once they outnumber live ones, so the order stays bounded.
            if waiting.isEmpty {
                order.removeAll()
            } else if order.count > 2 * waiting.count + 32 {
                let live = waiting
                order.removeAll { live[$0] == nil }
            }
            return waiter
        }

        mutating func removeAll() -> [Waiter] {
            let waiters = order.compactMap { waiting[$0] }
            order.removeAll()
            waiting.removeAll()
            return waiters
        }
    }

    private let state = Mutex(State())

    package init() {}

    /// The number of tasks waiting.
    package var count: Int { state.withLock { $0.waiting.count } }

    /// True when no task waits.
    package var isEmpty: Bool { count == 0 }

    /// Suspends the calling task at the back of the queue until a resume reaches it.
    ///
    /// Runs on the caller's actor until it suspends. Throws `CancellationError` without waiting when the task is
    /// already cancelled, and leaves the queue with `CancellationError` when it is cancelled while waiting,
    /// unless a resume reached it first: then it returns that value and the caller owns what it was handed.
    /// - Parameters:
    ///   - note: What the owner needs to know about this waiter when serving the queue.
    ///   - isolation: The caller's actor; leave the default.
    package func wait(noting note: Note, isolation: isolated (any Actor)? = #isolation) async throws -> Value {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation(isolation: isolation) { (continuation: CheckedContinuation<Value, any Error>) in
                // The cancellation flag is set before the handler runs, so either this sees it or the handler
                // finds the waiter in the queue.
                let cancelled = state.withLock { state in
                    if Task.isCancelled { return true }
                    state.order.append(id)
                    state.waiting[id] = Waiter(note: note, continuation: continuation)
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            state.withLock { $0.remove(id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Returns what `ready` finds, or else suspends the calling task at the back of the queue until a resume
    /// reaches it; cancellation as in ``wait(noting:isolation:)``.
    ///
    /// For owners that are not actors (a socket listener): `ready` runs with the queue locked, as the `keep` of
    /// ``resumeFirst(with:orKeep:)`` does, so a value kept for later between the check and the wait is found by
    /// the check or handed to the waiter, never stranded. `ready` must not use the queue itself.
    package func wait(unlessReady ready: () -> Value?, noting note: Note) async throws -> Value {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let outcome = state.withLock { state -> Result<Value, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let value = ready() { return .success(value) }
                    state.order.append(id)
                    state.waiting[id] = Waiter(note: note, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            state.withLock { $0.remove(id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Resumes the longest-waiting task with `value`; when no task waits, `keep` gets it, with the queue locked,
    /// for a later ``wait(unlessReady:noting:)`` to find. `keep` must not use the queue itself.
    package func resumeFirst(with value: Value, orKeep keep: (Value) -> Void) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.removeFirst() else {
                keep(value)
                return nil
            }
            return waiter
        }
        waiter?.continuation.resume(returning: value)
    }

    /// Resumes the longest-waiting task with `value`. Returns false when no task was waiting: `value` was not
    /// handed to anyone.
    @discardableResult
    package func resumeFirst(with value: Value) -> Bool {
        guard let waiter = state.withLock({ $0.removeFirst() }) else { return false }
        waiter.continuation.resume(returning: value)
        return true
    }

    /// Resumes every waiting task with `value`.
    package func resumeAll(with value: Value) {
        for waiter in state.withLock({ $0.removeAll() }) { waiter.continuation.resume(returning: value) }
    }

    /// Makes every waiting task throw `error`.
    package func failAll(_ error: any Error) {
        for waiter in state.withLock({ $0.removeAll() }) { waiter.continuation.resume(throwing: error) }
    }

    /// Offers each waiter in order of arrival to `decide`, which returns what that waiter gets (a value or an
    /// error) or nil to leave it waiting.
    ///
    /// `decide` runs with the queue locked, so a waiter it serves cannot be cancelled half-way: it must not use
    /// the queue itself.
    package func serveInOrder(_ decide: (Note) -> Result<Value, any Error>?) {
        let served = state.withLock { state -> [(CheckedContinuation<Value, any Error>, Result<Value, any Error>)] in
            var served: [(CheckedContinuation<Value, any Error>, Result<Value, any Error>)] = []
            var kept: Deque<Int> = []
            while let id = state.order.popFirst() {
                guard let waiter = state.waiting[id] else { continue }
                if let outcome = decide(waiter.note) {
                    state.waiting[id] = nil
                    served.append((waiter.continuation, outcome))
                } else {
                    kept.append(id)
                }
            }
            state.order = kept
            return served
        }
        for (continuation, outcome) in served { continuation.resume(with: outcome) }
    }
}

extension WaiterQueue where Note == Void {
    /// Returns what `ready` finds, or else waits; see ``wait(unlessReady:noting:)``.
    package func wait(unlessReady ready: () -> Value?) async throws -> Value {
        try await wait(unlessReady: ready, noting: ())
    }

    /// Suspends the calling task at the back of the queue until a resume reaches it; see
    /// ``wait(noting:isolation:)``.
    package func wait(isolation: isolated (any Actor)? = #isolation) async throws -> Value {
        try await wait(noting: (), isolation: isolation)
    }
}

extension WaiterQueue where Value == Void {
    /// Resumes the longest-waiting task. Returns false when no task was waiting.
    @discardableResult
    package func resumeFirst() -> Bool { resumeFirst(with: ()) }

    /// Resumes every waiting task.
    package func resumeAll() { resumeAll(with: ()) }
}
