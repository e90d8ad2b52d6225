import AsyncHTTPClient
import NIOCore
import Synchronization

/// Watches one reply's body: trips when its deadline passes, or when no piece arrived for the idle limit. A timer
/// on an event loop, rescheduled only when it fires early because pieces kept arriving.
final class ReplyWatchdog: Sendable {
    private struct State {
        var lastPiece = ContinuousClock.now
        var timer: Scheduled<Void>?
        var tripped: ModelError?
        var stopped = false
    }

    private let deadline: ContinuousClock.Instant
    private let idleTimeout: Duration?
    private let endpoint: String
    private let timeout: Duration
    private let state = Mutex(State())
    private let loop: any EventLoop = HTTPClient.defaultEventLoopGroup.any()

    init(deadline: ContinuousClock.Instant, idleTimeout: Duration?, endpoint: String, timeout: Duration) {
        self.deadline = deadline
        self.idleTimeout = idleTimeout
        self.endpoint = endpoint
        self.timeout = timeout
    }

    /// The error that names the limit it ran out, once it has tripped.
    var tripped: ModelError? { state.withLock { $0.tripped } }

    /// A piece of the body arrived: the idle limit counts from now.
    func pieceArrived() {
        guard idleTimeout != nil else { return }
        state.withLock { $0.lastPiece = .now }
    }

    /// Arms the timer; `onTrip` runs once, on the event loop, if it trips before `stop()`.
    func start(onTrip: @escaping @Sendable () -> Void) {
        schedule(onTrip)
    }

    /// The body was read (or failed): the timer is cancelled.
    func stop() {
        let timer = state.withLock { state -> Scheduled<Void>? in
            state.stopped = true
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
    }

    private func schedule(_ onTrip: @escaping @Sendable () -> Void) {
        state.withLock { state in
            guard !state.stopped else { return }
            let wake = idleTimeout.map { min(deadline, state.lastPiece + $0) } ?? deadline
            let delay = max(.zero, wake - .now)
            state.timer = loop.scheduleTask(in: TimeAmount(delay)) { [self] in check(onTrip) }
        }
    }

    private func check(_ onTrip: @escaping @Sendable () -> Void) {
        let verdict = state.withLock { state -> ModelError? in
            guard !state.stopped else { return nil }
            let now = ContinuousClock.now
            if now >= deadline {
                state.tripped = .timedOut(endpoint: endpoint, seconds: timeout.seconds)
            } else if let idleTimeout, now >= state.lastPiece + idleTimeout {
                state.tripped = .streamStalled(endpoint: endpoint, seconds: idleTimeout.seconds)
            }
            return state.tripped
        }
        if verdict != nil { onTrip() } else { schedule(onTrip) }
    }
}
