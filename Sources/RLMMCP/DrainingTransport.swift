import Foundation
import Logging
import MCP
import RLMKit

/// A transport that knows which requests still await their response, so the server can answer every request
/// it received before it stops, even when the client closed its input right after sending them.
///
/// A request is pending from the moment it is received until its response is sent, or until the client
/// cancels it (MCP sends no response to a cancelled request).
actor DrainingTransport: Transport {
    private let inner: any Transport
    private var pending = Set<String>()
    private let waiters = WaiterQueue<Void, Void>()

    init(_ inner: any Transport) {
        self.inner = inner
    }

    /// The SDK logs through this; its messages are dropped (the server's own go to stderr).
    nonisolated let logger = Logger(label: "rlm.mcp.transport", factory: { _ in SwiftLogNoOpLogHandler() })

    func connect() async throws { try await inner.connect() }

    func disconnect() async { await inner.disconnect() }

    func send(_ data: Data) async throws {
        defer { settle(Self.messages(in: data).compactMap { $0["method"] == nil ? Self.key(of: $0["id"]) : nil }) }
        try await inner.send(data)
    }

    func receive() -> AsyncThrowingStream<Data, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
        let source = inner
        let task = Task {
            do {
                for try await data in await source.receive() {
                    self.note(received: data)
                    continuation.yield(data)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Returns once every request received so far has been answered or cancelled, or as soon as the calling
    /// task is cancelled.
    func drained() async {
        guard !pending.isEmpty else { return }
        try? await waiters.wait()
    }

    // MARK: - Book-keeping

    private func note(received data: Data) {
        for message in Self.messages(in: data) {
            guard let method = message["method"] as? String else { continue }
            if method == CancelledNotification.name {
                settle([Self.key(of: (message["params"] as? [String: Any])?["requestId"])].compactMap { $0 })
            } else if let key = Self.key(of: message["id"]) {
                pending.insert(key)
            }
        }
    }

    private func settle(_ keys: [String]) {
        for key in keys { pending.remove(key) }
        if pending.isEmpty { waiters.resumeAll() }
    }

    /// The JSON-RPC messages in one line: one object, or a batch.
    private static func messages(in data: Data) -> [[String: Any]] {
        let value = try? JSONSerialization.jsonObject(with: data)
        if let object = value as? [String: Any] { return [object] }
        return (value as? [Any])?.compactMap { $0 as? [String: Any] } ?? []
    }

    /// A request id as a key that keeps the number 1 apart from the string "1".
    private static func key(of id: Any?) -> String? {
        switch id {
        case let text as String: "s:" + text
        case let number as NSNumber: "n:" + number.stringValue
        default: nil
        }
    }
}
