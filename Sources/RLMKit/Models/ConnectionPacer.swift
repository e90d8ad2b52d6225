import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Synchronization

/// Opens new connections to one server at a bounded rate, so that a wide fan-out does not overflow a small
/// server's listen queue.
///
/// Small servers listen with a short accept queue (Python's `http.server` and cpp-httplib use 5). When more
/// connection attempts arrive at once than the queue holds while the server is still accepting the previous
/// ones, the kernel drops the extra SYNs and the client only tries again after its 1 s retransmission timer:
/// a whole batch then waits on a few stalled calls. A request that will travel on an idle keep-alive
/// connection needs no new connection and passes at once; one that needs a new connection waits for its turn
/// (a burst of `burst` at once, then one every `interval`). The interval doubles when a connection attempt
/// times out and relaxes back as requests succeed.
///
/// A server on this machine is not paced until one of its connection attempts times out: there a dropped SYN
/// shows within the loopback connect timeout (tens of milliseconds), so a server with a deep queue (vLLM,
/// Ollama, a Swift or Go server) gets a wide batch at once, and one with a queue of 5 pays one short timeout
/// and is paced from then on. A server elsewhere is paced from its first connection, since a SYN dropped
/// there is only noticed after the kernel's 1 s retransmission.
///
/// AsyncHTTPClient decides by itself when to open a connection, so the pacer keeps its own estimate: every
/// response that leaves its connection open (HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
/// `keep-alive`) adds an idle connection for later requests to reuse; servers that close after each reply
/// (Python's default HTTP/1.0) therefore have every request paced.
///
/// A lock rather than an actor: every request passes here twice, the work is a few comparisons, and a wide
/// batch would otherwise queue its requests one by one on the actor.
final class ConnectionPacer: Sendable {
    static let shared = ConnectionPacer()

    /// Connections opened at once before pacing starts (below a backlog of 5).
    let burst: Int
    /// Gap between openings when no attempt has timed out.
    let baseInterval: Duration
    /// Longest gap, reached after repeated timeouts.
    let maxInterval: Duration
    /// An idle connection older than this is assumed closed (the pool closes them after 60 s).
    let idleLifetime: Duration

    private struct Server {
        /// When each idle keep-alive connection became idle.
        var idleSince: [ContinuousClock.Instant] = []
        /// The time the next opening is due once the burst is spent (a token bucket as a single instant).
        var theoreticalArrival: ContinuousClock.Instant
        var interval: Duration
        /// Whether new connections wait their turn: from the start, or since a connection attempt timed out.
        var paced: Bool
        /// When the pace last slowed down: attempts sent before then failed under the older, faster pace.
        var slowedDownAt: ContinuousClock.Instant?
    }
    private let servers = Mutex<[String: Server]>([:])

    init(burst: Int = 4, baseInterval: Duration = .milliseconds(2), maxInterval: Duration = .milliseconds(8),
         idleLifetime: Duration = .seconds(50)) {
        self.burst = max(1, burst)
        self.baseInterval = baseInterval
        self.maxInterval = maxInterval
        self.idleLifetime = idleLifetime
    }

    /// How long a request to `server` should wait before it is sent: zero if an idle connection will carry it,
    /// else until its turn to open a new connection comes. `pacedFromTheStart` false leaves a server unpaced
    /// until `connectionTimedOut(_:attemptStarted:)` is called for it.
    func admit(_ server: String, pacedFromTheStart: Bool = true) -> Duration {
        servers.withLock { servers in
            let now = ContinuousClock.now
            var state = servers[server] ?? Server(theoreticalArrival: now, interval: baseInterval, paced: pacedFromTheStart)
            defer { servers[server] = state }
            state.idleSince.removeAll { now - $0 > idleLifetime }
            if !state.idleSince.isEmpty {
                state.idleSince.removeLast()
                return .zero
            }
            guard state.paced else { return .zero }
            let due = max(state.theoreticalArrival, now)
            state.theoreticalArrival = due + state.interval
            let allowance = state.interval * (burst - 1)
            return max(.zero, due - now - allowance)
        }
    }

    /// A request finished reading its response; `keepAlive` says whether its connection went back to the pool.
    func released(_ server: String, keepAlive: Bool) {
        servers.withLock { servers in
            guard var state = servers[server] else { return }
            if keepAlive { state.idleSince.append(.now) }
            state.interval = max(baseInterval, state.interval * 0.9)
            servers[server] = state
        }
    }

    /// A connection attempt to `server`, sent at `attemptStarted`, timed out: its listen queue is probably full,
    /// so open more slowly. The attempts of one burst time out together; only those sent since the last
    /// slow-down say that the new pace is still too fast (one slow-down per round, as TCP halves its window once
    /// per round trip).
    func connectionTimedOut(_ server: String, attemptStarted: ContinuousClock.Instant = .now) {
        servers.withLock { servers in
            let now = ContinuousClock.now
            var state = servers[server] ?? Server(theoreticalArrival: now, interval: baseInterval, paced: true)
            defer { servers[server] = state }
            if let slowedDownAt = state.slowedDownAt, attemptStarted < slowedDownAt { return }
            state.slowedDownAt = now
            if state.paced {
                state.interval = min(maxInterval, state.interval * 2)
            } else {
                // The first sign of a short queue: pace from now on, starting with a burst.
                state.paced = true
                state.interval = baseInterval
                state.theoreticalArrival = now
            }
        }
    }

    /// The pacing key of a URL: scheme, host and port, as the connection pool groups connections.
    static func key(of url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        let scheme = components.scheme ?? "http"
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(components.host ?? ""):\(port)"
    }

    /// Whether the response leaves its connection open for the next request.
    static func keepsAlive(_ response: HTTPClientResponse) -> Bool {
        keepsAlive(isHTTP10: response.version == .http1_0, connection: response.headers[canonicalForm: "connection"].map(String.init))
    }

    /// HTTP/1.1 (and 2) keeps a connection open unless told `close`; HTTP/1.0 closes it unless told `keep-alive`.
    static func keepsAlive(isHTTP10: Bool, connection: [String]) -> Bool {
        let tokens = connection.map { $0.lowercased() }
        if tokens.contains("close") { return false }
        return !isHTTP10 || tokens.contains("keep-alive")
    }
}
