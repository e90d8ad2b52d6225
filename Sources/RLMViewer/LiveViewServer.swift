import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Serves the viewer for a log that is still being written, on the loopback interface only.
///
/// `GET /` is the page; `GET /log?offset=N` answers the complete lines written from byte `N` on, and the offset to
/// ask for next in `x-next-offset`. When nothing new is there yet, it waits (up to ``longPollSeconds``) for more, so
/// the page follows the run without a busy loop on either side.
public final class LiveViewServer: Sendable {
    /// The only address the server listens on.
    public static let host = "127.0.0.1"
    /// How long a `/log` request waits for new lines before it answers with none.
    public static let longPollSeconds = 10.0
    /// The most bytes one `/log` answer carries.
    static let chunkBytes = 32 << 20

    public let logPath: String
    public let port: Int
    private let task: Task<Void, any Error>
    private let served: ServedOffset

    /// Where a browser opens the page.
    public var url: String { "http://\(Self.host):\(port)/" }

    private init(logPath: String, port: Int, task: Task<Void, any Error>, served: ServedOffset) {
        self.logPath = logPath
        self.port = port
        self.task = task
        self.served = served
    }

    /// Starts serving the page for `logPath` (which may not exist yet) and returns once the server listens.
    /// `port` 0 picks a free port.
    public static func start(logPath: String, port: Int = 0) async throws -> LiveViewServer {
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let served = ServedOffset()
        let app = makeApplication(logPath: logPath, port: port, served: served) { bound in
            portSink.yield(bound)
            portSink.finish()
        }
        let task = Task {
            defer { portSink.finish() }
            try await app.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else {
            task.cancel()
            var cause = ""
            if case .failure(let error) = await task.result { cause = " (\(error))" }
            throw ViewerError("the live view could not listen on \(host):\(port)\(cause). Pick another port with --port, or 0 for any free one.")
        }
        return LiveViewServer(logPath: logPath, port: bound, task: task, served: served)
    }

    /// Serves until the task is cancelled (or the server fails).
    public func wait() async throws {
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// Stops serving. When a page is following the log, it first gets up to `grace` to fetch the log's last lines.
    public func stop(grace: Duration = .seconds(3)) async {
        let deadline = ContinuousClock.now + grace
        let size = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
        while let offset = served.value, offset < size, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        task.cancel()
        _ = await task.result
    }

    static func makeApplication(logPath: String, port: Int, served: ServedOffset,
                                onListening: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let name = URL(fileURLWithPath: logPath).lastPathComponent
        let router = Router()
        router.get("/") { _, _ -> Response in
            let page = try ViewerPage.liveHTML(name: name, logPath: "log")
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("/log") { request, _ -> Response in
            let offset = max(0, request.uri.queryParameters.get("offset", as: Int.self) ?? 0)
            served.record(offset)
            let chunk = await LogTail.next(path: logPath, offset: offset, waitSeconds: longPollSeconds)
            served.record(chunk.nextOffset)
            var headers: HTTPFields = [.contentType: "application/x-ndjson; charset=utf-8", .cacheControl: "no-store"]
            headers[HTTPFields.Element.Name("x-next-offset")!] = String(chunk.nextOffset)
            headers[HTTPFields.Element.Name("x-log-exists")!] = chunk.exists ? "1" : "0"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: chunk.bytes)))
        }
        var logger = Logger(label: "rlm.view")
        logger.logLevel = .critical
        return Application(router: router,
                           configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}

/// How far into the log a page has read: nil until a page asks.
final class ServedOffset: Sendable {
    private let state = Mutex<Int?>(nil)
    func record(_ offset: Int) { state.withLock { $0 = max($0 ?? 0, offset) } }
    var value: Int? { state.withLock { $0 } }
}

/// Reads what a growing log gained since an offset, whole lines only.
enum LogTail {
    struct Chunk: Sendable {
        var bytes: [UInt8]
        var nextOffset: Int
        var exists: Bool
    }

    /// The complete lines from `offset` on; waits up to `waitSeconds` (checking every 200 ms) while there are none.
    static func next(path: String, offset: Int, waitSeconds: Double) async -> Chunk {
        let deadline = ContinuousClock.now + .seconds(waitSeconds)
        while true {
            let chunk = read(path: path, offset: offset)
            if !chunk.bytes.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return chunk }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    static func read(path: String, offset: Int) -> Chunk {
        guard let handle = FileHandle(forReadingAtPath: path) else { return Chunk(bytes: [], nextOffset: offset, exists: false) }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil,
              let data = try? handle.read(upToCount: LiveViewServer.chunkBytes), !data.isEmpty,
              let lastNewline = data.lastIndex(of: 0x0A) else {
            return Chunk(bytes: [], nextOffset: offset, exists: true)
        }
        let bytes = [UInt8](data[data.startIndex...lastNewline])
        return Chunk(bytes: bytes, nextOffset: offset + bytes.count, exists: true)
    }
}
