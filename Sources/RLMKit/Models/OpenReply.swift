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
    ///
    /// The read runs in a task of its own that the watchdog, a timer on an event loop, cancels when it trips:
    /// a cancelled timer is gone at once, where a sleeping task's timer would linger until its deadline.
    func reading<T: Sendable>(
        idleTimeout: Duration?,
        _ read: @escaping @Sendable (_ body: HTTPClientResponse.Body, _ progressed: @escaping @Sendable () -> Void) async throws -> T
    ) async throws -> T {
        let watchdog = ReplyWatchdog(deadline: deadline, idleTimeout: idleTimeout, endpoint: endpoint, timeout: timeout)
        let body = response.body
        let reader = Task { try await read(body) { watchdog.pieceArrived() } }
        watchdog.start { reader.cancel() }
        defer { watchdog.stop() }
        do {
            return try await withTaskCancellationHandler {
                try await reader.value
            } onCancel: {
                reader.cancel()
            }
        } catch {
            if let tripped = watchdog.tripped, !Task.isCancelled { throw tripped }
            throw HTTPTransport.mapTransportError(error, endpoint: endpoint, timeout: timeout)
        }
    }
}
