import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// When and how often a failed model request is tried again.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int
    /// Attempts for a connection that could not be made at all (a wrong port should fail fast).
    public var maxConnectionAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Longest `Retry-After` honoured; a server asking for more fails the request instead.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 5, maxConnectionAttempts: Int = 3, baseDelay: Duration = .milliseconds(500),
                maxDelay: Duration = .seconds(30), maxRetryAfter: Duration = .seconds(120)) {
        self.maxAttempts = max(1, maxAttempts)
        self.maxConnectionAttempts = max(1, maxConnectionAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    public static let standard = RetryPolicy()
    public static let none = RetryPolicy(maxAttempts: 1, maxConnectionAttempts: 1)

    /// Statuses worth another try: timeouts, rate limits, overload and server faults.
    static func isRetryable(status: Int) -> Bool {
        [408, 409, 425, 429, 500, 502, 503, 504, 529].contains(status)
    }

    /// Exponential backoff with jitter (half to all of the doubled delay), or what `Retry-After` asks for.
    func delay(attempt: Int, retryAfter: String?) -> Duration? {
        if let retryAfter, let wait = Self.parseRetryAfter(retryAfter) {
            return wait <= maxRetryAfter ? wait : nil
        }
        let doubled = baseDelay * (1 << min(attempt - 1, 16))
        let capped = min(doubled, maxDelay)
        return capped * Double.random(in: 0.5...1.0)
    }

    /// `Retry-After` is either seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return .milliseconds(Int64(max(0, seconds) * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}

/// The one HTTP client all providers share. Its connection pool is sized for wide sub-call fan-out:
/// AsyncHTTPClient's default of 8 connections per host would silently cap `llm_query_batched`.
enum HTTPTransport {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        // A refused connection fails at once; our own retry policy decides whether to try again.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(10))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Sends a request and collects the whole body, retrying as `retry` says.
    static func send(
        _ request: HTTPClientRequest, endpoint: String, timeout: Duration, retry: RetryPolicy = .standard,
        maxBodyBytes: Int = 256 << 20
    ) async throws -> (status: Int, body: Data) {
        let response = try await open(request, endpoint: endpoint, timeout: timeout, retry: retry)
        do {
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), Data(buffer.readableBytesView))
        } catch {
            throw mapTransportError(error, endpoint: endpoint, timeout: timeout)
        }
    }

    /// Sends a request and returns the response once its head has arrived (for streaming), retrying failures
    /// that happen before then. A non-retryable error status is returned, not thrown: the caller reads its body.
    static func open(_ request: HTTPClientRequest, endpoint: String, timeout: Duration,
                     retry: RetryPolicy = .standard) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
                let status = Int(response.status.code)
                if RetryPolicy.isRetryable(status: status), attempt < retry.maxAttempts,
                   let delay = retry.delay(attempt: attempt, retryAfter: response.headers.first(name: "Retry-After")) {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    try await Task.sleep(for: delay)
                    continue
                }
                return response
            } catch let error as CancellationError {
                throw error
            } catch {
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

    /// The body of an error response that was opened for streaming (at most 1 MiB; empty if unreadable).
    static func errorBody(of response: HTTPClientResponse) async -> Data {
        (try? await response.body.collect(upTo: 1 << 20)).map { Data($0.readableBytesView) } ?? Data()
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

    /// The `data:` payloads of a server-sent-events body, one per event, with their `event:` names.
    static func serverSentEvents(_ response: HTTPClientResponse, endpoint: String,
                                 timeout: Duration) -> AsyncThrowingStream<(event: String?, data: String), any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var pending = [UInt8]()
                var eventName: String?
                var dataLines: [String] = []
                func flushEvent() {
                    if !dataLines.isEmpty { continuation.yield((eventName, dataLines.joined(separator: "\n"))) }
                    eventName = nil
                    dataLines = []
                }
                func handle(line: String) {
                    if line.isEmpty { flushEvent(); return }
                    if line.hasPrefix(":") { return }
                    let (field, value) = line.firstIndex(of: ":").map {
                        (String(line[..<$0]), String(line[line.index(after: $0)...]).drop { $0 == " " })
                    } ?? (line, Substring(""))
                    switch field {
                    case "event": eventName = String(value)
                    case "data": dataLines.append(String(value))
                    default: break
                    }
                }
                do {
                    for try await buffer in response.body {
                        pending.append(contentsOf: buffer.readableBytesView)
                        // Every complete line in the buffer, then the consumed part dropped once.
                        var lineStart = pending.startIndex
                        while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                            var line = String(decoding: pending[lineStart..<newline], as: UTF8.self)
                            if line.hasSuffix("\r") { line.removeLast() }
                            lineStart = newline + 1
                            handle(line: line)
                        }
                        pending.removeSubrange(..<lineStart)
                    }
                    if !pending.isEmpty { handle(line: String(decoding: pending, as: UTF8.self)) }
                    flushEvent()
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: mapTransportError(error, endpoint: endpoint, timeout: timeout))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension String {
    /// Replaces every occurrence of `secret` so that a key echoed by a server never reaches a log or message.
    func redacting(_ secret: String?) -> String {
        guard let secret, secret.count >= 4 else { return self }
        return replacingOccurrences(of: secret, with: "[redacted]")
    }
}
