import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Tracing

/// The HTTP clients all providers share. Their connection pools are sized for wide sub-call fan-out:
/// AsyncHTTPClient's default of 8 connections per host would silently cap `llm_query_batched`.
///
/// New connections to a server are paced (`ConnectionPacer`) so that a burst of sub-calls does not overflow
/// a small server's listen queue, and a loopback server gets a short connect timeout with quick jittered
/// retries: a dropped SYN costs a retry after about 0.1 s instead of the kernel's 1 s retransmission, and makes
/// the pacer pace that server.
enum HTTPTransport {
    /// For servers on other machines: a connection may take a few round trips (TCP, TLS) to open.
    static let client = makeClient(connectTimeout: remoteConnectTimeout)
    static let remoteConnectTimeout: Duration = .seconds(10)
    /// For plain-HTTP servers on this machine, where the kernel opens a connection in well under a millisecond
    /// unless the server's listen queue is full and the SYN was dropped.
    static let loopbackClient = makeClient(connectTimeout: loopbackConnectTimeout)
    /// (The same timeout bounds a request's wait for a connection from the pool, which on a loaded machine can
    /// take tens of milliseconds: 25 ms failed a test run with the load average above 20.)
    static let loopbackConnectTimeout: Duration = .milliseconds(100)
    /// How long in all a request keeps retrying connection attempts to a loopback server that time out.
    static let loopbackConnectPatience: Duration = .seconds(10)

    private static func makeClient(connectTimeout: Duration) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        // A refused connection fails at once; our own retry policy decides whether to try again.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: TimeAmount(connectTimeout))
        // With no tracer set up by the app (when the first request is made), AsyncHTTPClient would still describe
        // every request to a no-op span, parsing its URL again: a few percent of a wide fan-out's CPU, for nothing.
        if InstrumentationSystem.tracer is NoOpTracer { configuration.tracing.tracer = nil }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Sends a request and collects the whole body, retrying as `retry` says: a reply that stalls midway or
    /// breaks off is sent again, like one whose head never came.
    static func send(
        _ request: HTTPClientRequest, endpoint: String, timeout: Duration, retry: RetryPolicy = .standard,
        maxBodyBytes: Int = 256 << 20
    ) async throws -> (status: Int, body: Data) {
        try await retryingWholeReply(retry: retry) {
            let reply = try await open(request, endpoint: endpoint, timeout: timeout, retry: retry)
            let body = try await reply.collect(upTo: maxBodyBytes)
            await reply.released()
            return (reply.status, body)
        }
    }

    /// Sends a request and returns the response once its head has arrived, retrying failures that happen before
    /// then. A non-retryable error status is returned, not thrown: the caller reads its body. The reply's body
    /// must arrive within the same `timeout`, counted from when the request was sent (``OpenReply``).
    /// Inside `retryingStream`, the attempts count against the stream's budget.
    static func open(_ request: HTTPClientRequest, endpoint: String, timeout: Duration,
                     retry: RetryPolicy = .standard) async throws -> OpenReply {
        let attempts = AttemptBudget.current ?? AttemptBudget()
        let (server, loopback) = route(of: request.url)
        let connectPatienceEnds = ContinuousClock.now + min(loopbackConnectPatience, timeout)
        var connectTimeouts = 0
        var sentAt = ContinuousClock.now
        while true {
            let attempt = attempts.next()
            do {
                let wait = ConnectionPacer.shared.admit(server, pacedFromTheStart: !loopback)
                if wait > .zero { try await Task.sleep(for: wait) }
                sentAt = .now
                let response = try await (loopback ? loopbackClient : client)
                    .execute(request, timeout: TimeAmount(timeout))
                let reply = OpenReply(response: response, url: request.url, endpoint: endpoint, timeout: timeout,
                                      deadline: sentAt + timeout)
                let status = reply.status
                if RetryPolicy.isRetryable(status: status), attempt < retry.maxAttempts,
                   let delay = retry.delay(attempt: attempt, retryAfter: response.headers.first(name: "Retry-After")) {
                    let body = try? await reply.collect(upTo: 1 << 20)
                    if let body {
                        await reply.released()
                        // A prompt too long for the window fails the same way every time (older Ollama says so
                        // with a 500): give it back at once so the caller can shorten it.
                        if let overflow = contextOverflow(status: status, body: body,
                                                          request: request, endpoint: endpoint) {
                            throw overflow
                        }
                    }
                    try await Task.sleep(for: delay)
                    continue
                }
                attempts.markResponded()
                return reply
            } catch let error as CancellationError {
                throw error
            } catch {
                // A request that waited for a new connection longer than the connect timeout fails with
                // getConnectionFromPoolTimeout rather than connectTimeout: on a busy machine, the same thing.
                if let timeout = error as? HTTPClientError, timeout == .connectTimeout || timeout == .getConnectionFromPoolTimeout {
                    // The pool fails whichever request waits longest when any attempt times out, so the one
                    // that timed out was sent at least one connect timeout ago, maybe before this request.
                    let connectTimeout = loopback ? loopbackConnectTimeout : remoteConnectTimeout
                    ConnectionPacer.shared.connectionTimedOut(
                        server, attemptStarted: min(sentAt, ContinuousClock.now - connectTimeout))
                    // A loopback server answers a SYN at once unless its listen queue was full: try again soon,
                    // spread out, without spending the retry policy's attempts.
                    if loopback, ContinuousClock.now < connectPatienceEnds {
                        attempts.refund()
                        connectTimeouts += 1
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...min(50, 10 * connectTimeouts))))
                        continue
                    }
                }
                let mapped = mapTransportError(error, endpoint: endpoint, timeout: timeout)
                let limit: Int
                switch mapped {
                case ModelError.unreachable: limit = retry.maxConnectionAttempts
                case ModelError.timedOut: limit = retry.maxAttempts
                default: throw mapped
                }
                guard attempt < limit, let delay = retry.delay(attempt: attempt, retryAfter: nil) else { throw mapped }
                try await Task.sleep(for: delay)
            }
        }
    }

    /// The error of a failure reply that says the prompt does not fit the model's window, or nil. The key the
    /// request carries is kept out of the message.
    static func contextOverflow(status: Int, body: Data, request: HTTPClientRequest, endpoint: String) -> ModelError? {
        let key = request.headers.first(name: "x-api-key")
            ?? request.headers.first(name: "Authorization").map { String($0.dropFirst("Bearer ".count)) }
        let provider: ModelProvider = request.headers.first(name: "anthropic-version") == nil ? .openAICompatible : .anthropic
        let error = ModelError.fromServer(status: status, body: body, model: "", endpoint: endpoint, apiKey: key,
                                          provider: provider)
        return error.isContextOverflow ? error : nil
    }

    /// Tells the pacer that a response was read to its end, so its connection can carry the next request.
    static func connectionReleased(_ response: HTTPClientResponse, url: String) async {
        ConnectionPacer.shared.released(route(of: url).server, keepAlive: ConnectionPacer.keepsAlive(response))
    }

    /// The pacing key of `url`'s server, and whether it is a plain-HTTP server on this machine (a TLS handshake
    /// needs the server itself to answer, which may take longer). Every request asks, with one of a few URLs, so
    /// the answers are kept.
    static func route(of url: String) -> (server: String, loopback: Bool) {
        if let known = knownRoutes.withLock({ $0[url] }) { return known }
        let route = (server: ConnectionPacer.key(of: url), loopback: isLoopback(url) && url.lowercased().hasPrefix("http://"))
        knownRoutes.withLock { routes in
            if routes.count >= 1_024 { routes.removeAll() }
            routes[url] = route
        }
        return route
    }
    private static let knownRoutes = Mutex<[String: (server: String, loopback: Bool)]>([:])

    /// `localhost`, 127.0.0.0/8 or ::1.
    static func isLoopback(_ url: String) -> Bool {
        guard let host = URLComponents(string: url)?.host?.lowercased() else { return false }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    static func mapTransportError(_ error: any Error, endpoint: String, timeout: Duration) -> any Error {
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        if error is ModelError { return error }
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout {
                return ModelError.timedOut(endpoint: endpoint, seconds: timeout.seconds)
            }
            if error == .connectTimeout {
                return ModelError.unreachable(endpoint: endpoint, reason: "connection timed out")
            }
            if error == .cancelled { return CancellationError() }
        }
        return ModelError.unreachable(endpoint: endpoint, reason: describeTransportError(error))
    }

    private static func describeTransportError(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        if text.contains("UnknownHost") || text.contains("NXDOMAIN") || text.contains("resolve") || text.contains("lookup") {
            return "host name not found"
        }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

extension String {
    /// Replaces every occurrence of `secret` so that a key echoed by a server never reaches a log or message.
    func redacting(_ secret: String?) -> String {
        guard let secret, secret.count >= 4 else { return self }
        return replacingOccurrences(of: secret, with: "[redacted]")
    }
}
