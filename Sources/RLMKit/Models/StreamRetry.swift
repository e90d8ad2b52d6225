import Foundation
import Synchronization

/// The attempts one request has made, shared between `HTTPTransport.open` and `HTTPTransport.retryingStream`
/// so that a stream retried after a broken body gets no more tries in all than the retry policy allows.
final class AttemptBudget: Sendable {
    @TaskLocal static var current: AttemptBudget?

    private let made = Mutex(0)
    private let responded = Atomic(false)

    /// Counts one more attempt and returns its number (1 for the first).
    func next() -> Int { made.withLock { $0 += 1; return $0 } }
    /// Gives back an attempt that never reached the server (a connection attempt that timed out).
    func refund() { made.withLock { $0 = max(0, $0 - 1) } }
    var used: Int { made.withLock { $0 } }

    /// `open` got a response head: a failure after this one happened while the body was being read.
    func markResponded() { responded.store(true, ordering: .relaxed) }
    /// Whether the current try got past `open`; `open` applies the retry policy to failures before that.
    func takeResponded() -> Bool { responded.exchange(false, ordering: .relaxed) }
}

/// Whether any text of a streamed reply has reached the caller.
final class DeliveryFlag: Sendable {
    private let delivered = Atomic(false)
    func set() { delivered.store(true, ordering: .relaxed) }
    var isSet: Bool { delivered.load(ordering: .relaxed) }
}

extension HTTPTransport {
    /// Runs one streamed request, `attempt`, and runs it again when it fails before any text reached the
    /// caller: a connection dropped, timed out or stalled while the body was being read. The retry policy is the one of
    /// plain requests, with the attempts made by `open` inside counted too. Once `onDelta` has been called the
    /// failure is final, since the caller has already shown or used the deltas.
    static func retryingStream<T: Sendable>(
        retry: RetryPolicy, onDelta: @escaping @Sendable (String) -> Void,
        _ attempt: (_ onDelta: @escaping @Sendable (String) -> Void) async throws -> T
    ) async throws -> T {
        let attempts = AttemptBudget()
        while true {
            let delivered = DeliveryFlag()
            _ = attempts.takeResponded()
            do {
                return try await AttemptBudget.$current.withValue(attempts) {
                    try await attempt { piece in
                        delivered.set()
                        onDelta(piece)
                    }
                }
            } catch {
                guard attempts.takeResponded(), !delivered.isSet, !Task.isCancelled, isBrokenTransfer(error),
                      attempts.used < retry.maxAttempts,
                      let delay = retry.delay(attempt: attempts.used, retryAfter: nil) else { throw error }
                try await Task.sleep(for: delay)
            }
        }
    }

    /// Runs one request for a whole reply, and runs it again when its body broke off or stalled (the retry
    /// policy of plain requests, the attempts made by `open` inside counted too).
    static func retryingWholeReply<T: Sendable>(retry: RetryPolicy, _ attempt: () async throws -> T) async throws -> T {
        try await retryingStream(retry: retry, onDelta: { _ in }) { _ in try await attempt() }
    }

    /// A failure of the connection itself (dropped, reset, timed out, stalled), as opposed to an answer from
    /// the server.
    static func isBrokenTransfer(_ error: any Error) -> Bool {
        switch error {
        case ModelError.unreachable, ModelError.timedOut, ModelError.streamStalled: true
        default: false
        }
    }
}
