import DequeModule

/// Bounds how many sub-calls are in flight at once across a whole run; waiters go first-come, first-served.
public actor ConcurrencyLimiter {
    public nonisolated let limit: Int
    private var inFlight = 0
    /// First come, first served; a wide batch queues thousands here, so taking the first must not move the rest.
    private var waiters: Deque<(id: Int, continuation: CheckedContinuation<Void, any Error>)> = []
    private var nextWaiterID = 0
    /// The most that were ever in flight together, for reports and tests.
    public private(set) var peak = 0

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Runs `operation` once a slot is free.
    public func run<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await operation()
    }

    private func acquire() async throws {
        if inFlight < limit {
            take()
            return
        }
        nextWaiterID += 1
        let id = nextWaiterID
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func take() {
        inFlight += 1
        peak = max(peak, inFlight)
    }

    private func release() {
        if waiters.isEmpty {
            inFlight -= 1
        } else {
            // Hand the slot straight to the next waiter.
            let next = waiters.removeFirst()
            peak = max(peak, inFlight)
            next.continuation.resume()
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}
