import Foundation
import RLMKit

/// Admits at most `limit` runs at once, refuses new ones while the server drains, and can cancel the runs still
/// going when draining takes too long.
actor RunGate {
    enum Admission {
        case admitted(UUID)
        case full(retryAfter: Int)
        case draining
    }

    let limit: Int
    private var running: [UUID: @Sendable () -> Void] = [:]
    private var isDraining = false
    private let idleWaiters = WaiterQueue<Void, Void>()
    private var recentSeconds: [Double] = []

    init(limit: Int) { self.limit = max(1, limit) }

    var runningCount: Int { running.count }
    var draining: Bool { isDraining }

    func admit() -> Admission {
        if isDraining { return .draining }
        guard running.count < limit else { return .full(retryAfter: retryAfter) }
        let id = UUID()
        running[id] = {}
        return .admitted(id)
    }

    /// Says how to cancel the admitted run `id` should the drain time out.
    func setCanceller(_ id: UUID, _ cancel: @escaping @Sendable () -> Void) {
        if running[id] != nil { running[id] = cancel }
    }

    func release(_ id: UUID, seconds: Double) {
        running[id] = nil
        recentSeconds.append(seconds)
        if recentSeconds.count > 20 { recentSeconds.removeFirst() }
        if running.isEmpty { idleWaiters.resumeAll() }
    }

    /// Seconds a refused client should wait: the mean length of recent runs, within 1–120 s.
    var retryAfter: Int {
        guard !recentSeconds.isEmpty else { return 5 }
        let mean = recentSeconds.reduce(0, +) / Double(recentSeconds.count)
        return min(120, max(1, Int(mean.rounded(.up))))
    }

    /// Refuses every new run from now on.
    func beginDrain() { isDraining = true }

    /// Cancels every run still going.
    func cancelAll() { running.values.forEach { $0() } }

    /// Returns once no run is going, or as soon as the calling task is cancelled (a drain that timed out).
    func waitUntilIdle() async {
        if running.isEmpty { return }
        try? await idleWaiters.wait()
    }
}
