import Foundation
import Hummingbird
import Logging
import LoopbackGuards
import NIOCore
import Synchronization

/// Serves the viewer for a log that is still being written, on the loopback interface only, to whoever has its URL.
///
/// The URL carries a random token (128 bits, `?token=`, as Jupyter's does); every request must present it, in the
/// query or in the cookie the page's first answer sets, so that the page's own requests carry it. Requests whose
/// `Host` is not a loopback name (DNS rebinding) or whose `Origin` is another site are refused too.
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
    private let token: String
    private let task: Task<Void, any Error>
    private let served: ServedOffset

    /// Where a browser opens the page: the only way in, since it carries the token.
    public var url: String { "http://\(Self.host):\(port)/?token=\(token)" }

    private init(logPath: String, port: Int, token: String, task: Task<Void, any Error>, served: ServedOffset) {
        self.logPath = logPath
        self.port = port
        self.token = token
        self.task = task
        self.served = served
    }

    /// Starts serving the page for `logPath` (which may not exist yet) and returns once the server listens.
    /// - Parameters:
    ///   - port: 0 picks a free port.
    ///   - allowedHosts: `Host` names accepted besides the loopback ones (`--allowed-host`).
    ///   - corsOrigins: web origins whose pages may fetch from the server (`--cors-origin`).
    public static func start(logPath: String, port: Int = 0, allowedHosts: [String] = [],
                             corsOrigins: [String] = []) async throws -> LiveViewServer {
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let served = ServedOffset()
        let token = AccessToken.random()
        let guards = Guards(token: token, allowedHosts: allowedHosts, corsOrigins: corsOrigins)
        let app = makeApplication(logPath: logPath, port: port, served: served, guards: guards) { bound in
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
        return LiveViewServer(logPath: logPath, port: bound, token: token, task: task, served: served)
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

    /// Who may use the server.
    struct Guards {
        var token: String
        var allowedHosts: [String]
        var corsOrigins: [String]
    }

    static func makeApplication(logPath: String, port: Int, served: ServedOffset, guards: Guards,
                                onListening: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let name = URL(fileURLWithPath: logPath).lastPathComponent
        let router = Router()
        router.add(middleware: HostAllowListMiddleware(allowedHosts: guards.allowedHosts))
        router.add(middleware: OriginAllowListMiddleware(allowedOrigins: guards.corsOrigins, allowMethods: [.get, .options],
                                                         allowHeaders: [], exposeHeaders: ["x-next-offset", "x-log-exists"]))
        router.add(middleware: JSONContentTypeMiddleware())
        // A cookie per server: two live views on one machine share the browser's cookies for 127.0.0.1.
        router.add(middleware: AccessTokenMiddleware(
            token: AccessToken(guards.token), sources: [.queryAndCookie(cookieName: "rlm-view-" + AccessToken.random().prefix(12))],
            refusal: "this live view needs its token: open the whole URL that `rlm view --live` (or `rlm ask --view`) printed, which ends in ?token=..."))
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
