import Synchronization

extension ModelSimulator {
    /// A handler whose first `count` chat requests that match `stalls` get `handler`'s reply stalled after
    /// `events` body pieces (``SimulatedReply/stalling(afterEvents:)``), and every later one gets it whole: a
    /// server that stalls, then recovers, so that a client's retry can be seen.
    public static func stallingFirst(_ count: Int, afterEvents events: Int = 1,
                                     where stalls: @escaping @Sendable (SimulatedRequest) -> Bool = { _ in true },
                                     _ handler: @escaping Handler) -> Handler {
        let stalled = StallCount()
        return { request in
            let reply = await handler(request)
            guard stalls(request), stalled.next() <= count else { return reply }
            return reply.stalling(afterEvents: events)
        }
    }
}

/// How many requests have matched a stalling handler's rule so far.
private final class StallCount: Sendable {
    private let value = Atomic(0)
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}
