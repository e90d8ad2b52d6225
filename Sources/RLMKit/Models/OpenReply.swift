import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// A response whose head has arrived, and the instant by which the rest of it must have arrived too.
///
/// AsyncHTTPClient's `execute(_:timeout:)` bounds only the wait for the head: it cancels its deadline as soon as
/// the head is in, and a server that then sends half a body and goes silent would be waited on for ever. Every
/// read of the body goes through ``reading(idleTimeout:_:)``, which holds it to the same request timeout and, for
/// a stream, to an idle limit between pieces.
struct OpenReply: Sendable {
    let response: HTTPClientResponse
    /// The URL the request went to (its server's connections are paced).
    let url: String
    /// The API's base URL, as error messages name it.
    let endpoint: String
    /// The request timeout: the whole reply, head and body, must arrive within it.
    let timeout: Duration
    /// When the request was sent, plus `timeout`.
    let deadline: ContinuousClock.Instant

    var status: Int { Int(response.status.code) }

    /// The whole body, at most `maxBytes`, by the deadline.
    func collect(upTo maxBytes: Int = 256 << 20) async throws -> Data {
        let endpoint = endpoint
        return try await reading(idleTimeout: nil) { body, _ in
            do {
                return Data(try await body.collect(upTo: maxBytes).readableBytesView)
            } catch is NIOTooManyBytesError {
                // Not a broken connection: sending the request again would bring the same reply.
                throw ModelError.malformedResponse(endpoint: endpoint, detail: "the reply is larger than \(maxBytes >> 20) MiB")
            }
        }
    }

    /// The body of an error reply (at most 1 MiB; empty if unreadable or late).
    func errorBody() async -> Data {
        (try? await collect(upTo: 1 << 20)) ?? Data()
    }

    /// Tells the pacer that the reply was read to its end, so its connection can carry the next request.
    func released() async {
        await HTTPTransport.connectionReleased(response, url: url)
    }

    /// Runs `read` on the body, and stops it when the deadline passes (``ModelError/timedOut(endpoint:seconds:provider:)``)
    /// or, given `idleTimeout`, when no bytes came for that long (``ModelError/streamStalled(endpoint:seconds:provider:)``).
    /// `read` calls `progressed` for each piece it gets. Stopping it cancels the read, which closes the connection.
    func reading<T: Sendable>(
        idleTimeout: Duration?,
        _ read: @escaping @Sendable (_ body: HTTPClientResponse.Body, _ progressed: @escaping @Sendable () -> Void) async throws -> T
    ) async throws -> T {
        let lastPiece = ProgressMark()
        let (body, deadline, endpoint, timeout) = (response.body, deadline, endpoint, timeout)
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await read(body) { lastPiece.touch() } }
                group.addTask {
                    try await Self.watch(deadline: deadline, idleTimeout: idleTimeout, lastPiece: lastPiece,
                                         endpoint: endpoint, timeout: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                // The first child to end decides: the reader with the body, or the watchdog with its error.
                guard let result = try await group.next() ?? nil else { throw CancellationError() }
                return result
            }
        } catch {
            throw HTTPTransport.mapTransportError(error, endpoint: endpoint, timeout: timeout)
        }
    }

    /// Sleeps until the deadline or the idle limit is reached, then throws the error that names it; returns
    /// only by being cancelled.
    private static func watch(deadline: ContinuousClock.Instant, idleTimeout: Duration?, lastPiece: ProgressMark,
                              endpoint: String, timeout: Duration) async throws {
        while true {
            let idleEnds = idleTimeout.map { lastPiece.instant + $0 }
            let wake = min(deadline, idleEnds ?? deadline)
            if ContinuousClock.now >= wake {
                if let idleTimeout, let idleEnds, idleEnds < deadline {
                    throw ModelError.streamStalled(endpoint: endpoint, seconds: idleTimeout.seconds)
                }
                throw ModelError.timedOut(endpoint: endpoint, seconds: timeout.seconds)
            }
            try await Task.sleep(until: wake, clock: .continuous)
        }
    }
}

/// When the last piece of a body arrived.
final class ProgressMark: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func touch() { last.withLock { $0 = .now } }
    var instant: ContinuousClock.Instant { last.withLock { $0 } }
}
