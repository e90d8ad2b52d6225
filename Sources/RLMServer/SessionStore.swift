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

    struct Entry {
        var session: RLMSession
        var owner: SHA256Digest?
        var bytes: Int
        var lastUsed: ContinuousClock.Instant
        var busy = false
        /// What the shared folder holds of it, as of this process's last save or restore (`--session-dir`).
        var saved: SharedSessionFolder.Manifest?
    }

    let limits: Limits
    private let metrics: ServerMetrics
    /// The folder replicas share sessions through; nil keeps them in this process only.
    let shared: SharedSessionFolder?
    var entries: [SHA256Digest: Entry] = [:]
    /// Sessions being checked out from the shared folder, and the shared locks of those checked out.
    var pending: Set<SHA256Digest> = []
    var locks: [SHA256Digest: SharedSessionFolder.Lock] = [:]
    private var closing: [UUID: Task<Void, Never>] = [:]
    private var sweeper: Task<Void, Never>?

    init(limits: Limits, metrics: ServerMetrics, shared: SharedSessionFolder? = nil) {
        self.limits = limits
        self.metrics = metrics
        self.shared = shared
    }

    private var heldBytes: Int { entries.values.reduce(0) { $0 + $1.bytes } }

    /// The session `id` names, taken for one request until ``checkIn(_:)``.
    ///
    /// Throws 404 when the id is unknown, expired, or was started with another token (the three look the same,
    /// so an id cannot be probed), and 409 while another request runs in it.
    /// With a shared folder (`--session-dir`), the session is locked there for the request, and resumed from
    /// there with `load` when this process does not hold it or holds an older state of it.
    func checkOut(_ id: String, owner: SHA256Digest?,
                  load: @escaping @Sendable (RLMContext) async throws -> RLMSession) async throws(APIError) -> RLMSession {
        if let shared { return try await checkOutShared(id, owner: owner, folder: shared, load: load) }
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
    /// With a shared folder, the session is saved there first, then its shared lock goes.
    func checkIn(_ id: String) async {
        let key = Self.key(id)
        guard let session = entries[key]?.session else {
            await locks.removeValue(forKey: key)?.release()
            return
        }
        if await session.isClosed {
            entries[key] = nil
            publish()
            await locks.removeValue(forKey: key)?.release()
            return
        }
        await saveShared(id, session: session)
        entries[key]?.busy = false
        entries[key]?.lastUsed = .now
    }

    /// Keeps `session`, which answered the first question of a conversation, for the client `owner`; returns the
    /// id the client names to continue, or nil when the session cannot be kept (it is then closed).
    ///
    /// Makes room by ending the least recently used idle sessions; a session that does not fit even then is not kept.
    func keep(_ session: RLMSession, owner: SHA256Digest?, bytes: Int) async -> String? {
        guard limits.maxSessions > 0, bytes <= limits.maxBytes, await !session.isClosed, makeRoom(for: bytes) else {
            closeLater([session])
            return nil
        }
        let id = Self.newID()
        entries[Self.key(id)] = Entry(session: session, owner: owner, bytes: bytes, lastUsed: .now)
        publish()
        startSweeping()
        return id
    }

    /// Ends the least recently used idle sessions until one more of `bytes` fits; false when it cannot fit.
    func makeRoom(for bytes: Int) -> Bool {
        guard limits.maxSessions > 0, bytes <= limits.maxBytes else { return false }
        var evicted: [SHA256Digest] = []
        while entries.count - evicted.count >= limits.maxSessions
                || heldBytes - evicted.reduce(0, { $0 + (entries[$1]?.bytes ?? 0) }) + bytes > limits.maxBytes {
            let idle = entries.filter { !$0.value.busy && !evicted.contains($0.key) }
            guard let oldest = idle.min(by: { $0.value.lastUsed < $1.value.lastUsed }) else { return false }
            evicted.append(oldest.key)
        }
        end(evicted)
        return true
    }

    /// Ends the idle sessions whose time is up, so their REPLs do not wait for a request that never comes.
    func sweep() async {
        let now = ContinuousClock.now
        end(entries.filter { !$0.value.busy && now - $0.value.lastUsed >= limits.ttl }.map(\.key))
        await shared?.removeExpired(ttl: limits.ttl)
    }

    /// Closes every session (their REPL processes end), busy or not; called when the server stops.
    func closeAll() async {
        sweeper?.cancel()
        sweeper = nil
        let sessions = entries.values.map(\.session)
        entries.removeAll()
        for lock in locks.values { await lock.release() }
        locks.removeAll()
        publish()
        for session in sessions { await session.close() }
        for task in closing.values { await task.value }
    }

    // MARK: Helpers

    func end(_ keys: [SHA256Digest]) {
        closeLater(keys.compactMap { entries.removeValue(forKey: $0)?.session })
        publish()
    }

    func publish() { metrics.sessionsHeld(entries.count) }

    func startSweeping() {
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
    func closeLater(_ sessions: [RLMSession]) {
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

    static func sessionBusy(holder: String? = nil) -> APIError {
        APIError(status: .conflict,
                 message: "the session is answering another request\(holder.map { " on \($0)" } ?? ""); it takes one at a time. Retry after that answer (Retry-After), or start a new conversation without `session`.",
                 type: "invalid_request_error", code: "session_busy", param: "session", headers: [.retryAfter: "2"])
    }
}
