import Crypto
import Foundation
import Hummingbird
import LoopbackGuards
import RLMKit

/// The conversations clients continue by naming the id the server returned to them.
///
/// Each entry is the REPL that answered one client's first question, with its context loaded: only that client
/// runs code in it again. An id is 128 random bits; the store keeps its SHA-256, never the id itself, and the
/// SHA-256 of the Bearer token that started it, which every later request must present too. A session ends
/// after `ttl` without a request, when the bound pushes it out (least recently used first), or on shutdown.
/// It answers one request at a time.
actor SessionStore {
    /// What the store keeps, and for how long.
    struct Limits: Sendable {
        /// Idle time after which a session ends.
        var ttl: Duration
        /// Sessions kept at once (each is a REPL process).
        var maxSessions: Int
        /// Bytes of context the kept sessions may hold together.
        var maxBytes: Int
    }

    private struct Entry {
        var session: RLMSession
        var owner: SHA256Digest?
        var bytes: Int
        var lastUsed: ContinuousClock.Instant
        var busy = false
    }

    let limits: Limits
    private let metrics: ServerMetrics
    private var entries: [SHA256Digest: Entry] = [:]
    private var closing: [UUID: Task<Void, Never>] = [:]
    private var sweeper: Task<Void, Never>?

    init(limits: Limits, metrics: ServerMetrics) {
        self.limits = limits
        self.metrics = metrics
    }

    private var heldBytes: Int { entries.values.reduce(0) { $0 + $1.bytes } }

    /// The session `id` names, taken for one request until ``checkIn(_:)``.
    ///
    /// Throws 404 when the id is unknown, expired, or was started with another token (the three look the same,
    /// so an id cannot be probed), and 409 while another request runs in it.
    func checkOut(_ id: String, owner: SHA256Digest?) throws(APIError) -> RLMSession {
        let key = Self.key(id)
        guard var entry = entries[key], entry.owner == owner else { throw .sessionNotFound(ttl: limits.ttl) }
        guard !entry.busy else { throw .sessionBusy() }
        guard ContinuousClock.now - entry.lastUsed < limits.ttl else {
            end([key])
            throw .sessionNotFound(ttl: limits.ttl)
        }
        entry.busy = true
        entries[key] = entry
        return entry.session
    }

    /// Gives back the session `id` after its request; a session closed meanwhile (a cancelled run) is dropped.
    func checkIn(_ id: String) async {
        let key = Self.key(id)
        guard let session = entries[key]?.session else { return }
        if await session.isClosed {
            entries[key] = nil
            publish()
            return
        }
        entries[key]?.busy = false
        entries[key]?.lastUsed = .now
    }

    /// Keeps `session`, which answered the first question of a conversation, for the client `owner`; returns the
    /// id the client names to continue, or nil when the session cannot be kept (it is then closed).
    ///
    /// Makes room by ending the least recently used idle sessions; a session that does not fit even then is not kept.
    func keep(_ session: RLMSession, owner: SHA256Digest?, bytes: Int) async -> String? {
        guard limits.maxSessions > 0, bytes <= limits.maxBytes, await !session.isClosed else {
            closeLater([session])
            return nil
        }
        var evicted: [SHA256Digest] = []
        while entries.count - evicted.count >= limits.maxSessions
                || heldBytes - evicted.reduce(0, { $0 + (entries[$1]?.bytes ?? 0) }) + bytes > limits.maxBytes {
            let idle = entries.filter { !$0.value.busy && !evicted.contains($0.key) }
            guard let oldest = idle.min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
                closeLater([session])
                return nil
            }
            evicted.append(oldest.key)
        }
        end(evicted)
        let id = Self.newID()
        entries[Self.key(id)] = Entry(session: session, owner: owner, bytes: bytes, lastUsed: .now)
        publish()
        startSweeping()
        return id
    }

    /// Ends the idle sessions whose time is up, so their REPLs do not wait for a request that never comes.
    func sweep() {
        let now = ContinuousClock.now
        end(entries.filter { !$0.value.busy && now - $0.value.lastUsed >= limits.ttl }.map(\.key))
    }

    /// Closes every session (their REPL processes end), busy or not; called when the server stops.
    func closeAll() async {
        sweeper?.cancel()
        sweeper = nil
        let sessions = entries.values.map(\.session)
        entries.removeAll()
        publish()
        for session in sessions { await session.close() }
        for task in closing.values { await task.value }
    }

    // MARK: Helpers

    private func end(_ keys: [SHA256Digest]) {
        closeLater(keys.compactMap { entries.removeValue(forKey: $0)?.session })
        publish()
    }

    private func publish() { metrics.sessionsHeld(entries.count) }

    private func startSweeping() {
        guard sweeper == nil else { return }
        let interval = min(max(limits.ttl / 4, .milliseconds(250)), .seconds(30))
        sweeper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                await self?.sweep()
            }
        }
    }

    /// Closes sessions without holding up the answer on its way; ``closeAll()`` waits for them.
    private func closeLater(_ sessions: [RLMSession]) {
        guard !sessions.isEmpty else { return }
        let id = UUID()
        closing[id] = Task {
            for session in sessions { await session.close() }
            self.closed(id)
        }
    }

    private func closed(_ id: UUID) { closing[id] = nil }

    /// `sess_` and 128 bits from the system's secure generator, in hex.
    static func newID() -> String { "sess_" + AccessToken.random() }

    static func key(_ id: String) -> SHA256Digest { SHA256.hash(data: Data(id.utf8)) }

    /// The SHA-256 of the Bearer token in `authorization` (scheme matched case-insensitively), nil without one.
    static func owner(authorization: String?) -> SHA256Digest? {
        // The same parsing as the token check, so the session's owner is the token that check accepted.
        guard let token = AccessTokenMiddleware<BasicRequestContext>.bearerCredentials(authorization), !token.isEmpty else { return nil }
        return SHA256.hash(data: Data(token.utf8))
    }
}

extension APIError {
    static func sessionNotFound(ttl: Duration) -> APIError {
        APIError(status: .notFound,
                 message: "no such session: it is unknown, was started with another token, or ended (sessions end after \(ttl.components.seconds) s without a request, set by --session-ttl, or when the server needs room). Start a new conversation: send the request without `session`, with its context.",
                 type: "invalid_request_error", code: "session_not_found", param: "session")
    }

    static func sessionBusy() -> APIError {
        APIError(status: .conflict,
                 message: "the session is answering another request; it takes one at a time. Retry after that answer (Retry-After), or start a new conversation without `session`.",
                 type: "invalid_request_error", code: "session_busy", param: "session", headers: [.retryAfter: "2"])
    }
}
