import AsyncHTTPClient
import NIOCore

extension OpenReply {
    /// The `data:` payloads of a server-sent-events body, one per event, with their `event:` names. The stream
    /// fails when the reply passes its deadline, or when nothing arrives for `idleTimeout` (comments and
    /// keep-alive lines count as something).
    func serverSentEvents(idleTimeout: Duration?) -> AsyncThrowingStream<(event: String?, data: String), any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await reading(idleTimeout: idleTimeout) { body, progressed in
                        var parser = ServerSentEventParser()
                        for try await buffer in body {
                            progressed()
                            parser.feed(buffer.readableBytesView) { continuation.yield($0) }
                        }
                        parser.finish { continuation.yield($0) }
                    }
                    continuation.finish()
                    await released()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// Cuts a server-sent-events body into events as its bytes arrive.
struct ServerSentEventParser {
    private var pending = [UInt8]()
    private var eventName: String?
    private var dataLines: [String] = []

    /// Reads `bytes`, handing each event they complete to `emit`.
    mutating func feed(_ bytes: some Sequence<UInt8>, emit: ((event: String?, data: String)) -> Void) {
        pending.append(contentsOf: bytes)
        // Every complete line in the buffer, then the consumed part dropped once.
        var lineStart = pending.startIndex
        while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
            var line = String(decoding: pending[lineStart..<newline], as: UTF8.self)
            if line.hasSuffix("\r") { line.removeLast() }
            lineStart = newline + 1
            handle(line: line, emit: emit)
        }
        pending.removeSubrange(..<lineStart)
    }

    /// The body ended: a last line without its newline, and the event it completes.
    mutating func finish(emit: ((event: String?, data: String)) -> Void) {
        if !pending.isEmpty { handle(line: String(decoding: pending, as: UTF8.self), emit: emit) }
        pending = []
        flushEvent(emit: emit)
    }

    private mutating func handle(line: String, emit: ((event: String?, data: String)) -> Void) {
        if line.isEmpty { flushEvent(emit: emit); return }
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

    private mutating func flushEvent(emit: ((event: String?, data: String)) -> Void) {
        if !dataLines.isEmpty { emit((eventName, dataLines.joined(separator: "\n"))) }
        eventName = nil
        dataLines = []
    }
}
