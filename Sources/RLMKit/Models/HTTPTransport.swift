import AsyncHTTPClient
import Foundation
import NIOCore

/// The one HTTP client all providers share. Its connection pool is sized for wide sub-call fan-out:
/// AsyncHTTPClient's default of 8 connections per host would silently cap `llm_query_batched`.
enum HTTPTransport {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        // A refused connection should fail at once with a clear message, not be retried until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(10))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Sends a request and collects the whole body, turning transport failures into `ModelError`s.
    static func send(
        _ request: HTTPClientRequest, endpoint: String, timeout: Duration, maxBodyBytes: Int = 256 << 20
    ) async throws -> (status: Int, body: Data) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(seconds * 1e9)))
            let buffer = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), Data(buffer.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ModelError.timedOut(endpoint: endpoint, seconds: seconds)
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw ModelError.unreachable(endpoint: endpoint, reason: "connection timed out")
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as ModelError {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw ModelError.unreachable(endpoint: endpoint, reason: describeTransportError(error))
        }
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
