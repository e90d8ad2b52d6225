import Foundation
import RLMKit

/// Loaded contexts kept between requests, keyed by the SHA-256 of their content and bounded by the bytes of
/// content they hold; the least recently used go first.
///
/// A session answers one question at a time, so a session is checked out while it runs: a second request for
/// the same content that arrives meanwhile loads its own copy rather than wait behind the first (two copies can
/// then be cached, both within the bound).
actor ContextCache {
    private struct Entry {
        var session: RLMSession
        var key: String
        var bytes: Int
        var lastUsed: UInt64
    }

    let maxBytes: Int
    private let metrics: ServerMetrics
    private var idle: [Entry] = []
    private var clock: UInt64 = 0
    private var closing: [UUID: Task<Void, Never>] = [:]

    init(maxBytes: Int, metrics: ServerMetrics) {
        self.maxBytes = max(0, maxBytes)
        self.metrics = metrics
    }

    private var heldBytes: Int { idle.reduce(0) { $0 + $1.bytes } }

    /// An idle session over the content `key`, taken out of the cache until ``checkIn``.
    func checkOut(key: String) -> RLMSession? {
        guard let index = idle.lastIndex(where: { $0.key == key }) else { return nil }
        let entry = idle.remove(at: index)
        metrics.cacheHolds(bytes: heldBytes)
        return entry.session
    }

    /// Keeps `session` for later requests when it is still open and fits the bound, evicting the least recently
    /// used sessions to make room; else closes it.
    func checkIn(_ session: RLMSession, key: String, bytes: Int) async {
        guard bytes <= maxBytes, await !session.isClosed else {
            closeLater([session])
            return
        }
        var evicted: [RLMSession] = []
        while heldBytes + bytes > maxBytes, let oldest = idle.indices.min(by: { idle[$0].lastUsed < idle[$1].lastUsed }) {
            evicted.append(idle.remove(at: oldest).session)
        }
        clock += 1
        idle.append(Entry(session: session, key: key, bytes: bytes, lastUsed: clock))
        metrics.cacheHolds(bytes: heldBytes)
        closeLater(evicted)
    }

    /// Closes sessions (their REPLs end) without holding up the answer that is on its way; ``closeAll`` waits.
    private func closeLater(_ sessions: [RLMSession]) {
        guard !sessions.isEmpty else { return }
        let id = UUID()
        closing[id] = Task {
            for session in sessions { await session.close() }
            self.closed(id)
        }
    }

    private func closed(_ id: UUID) { closing[id] = nil }

    /// Closes every cached session (their REPL processes end).
    func closeAll() async {
        let sessions = idle.map(\.session)
        idle.removeAll()
        metrics.cacheHolds(bytes: 0)
        for session in sessions { await session.close() }
        for task in closing.values { await task.value }
    }
}
