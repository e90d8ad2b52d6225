/// Bounds how many sub-calls are in flight at once across a whole run; waiters go first-come, first-served.
public actor ConcurrencyLimiter {
    public nonisolated let limit: Int
    private var inFlight = 0
    /// Callers waiting for a slot, first come, first served; a wide batch queues thousands here.
    private let waiters = WaiterQueue<Void, Void>()
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
        // A slot freed while waiting is handed straight over: it is already counted in `inFlight`.
        try await waiters.wait()
    }

    private func take() {
        inFlight += 1
        peak = max(peak, inFlight)
    }

    /// Hands the slot straight to the next waiter, if one is waiting.
    private func release() {
        if !waiters.resumeFirst() { inFlight -= 1 }
    }
}
