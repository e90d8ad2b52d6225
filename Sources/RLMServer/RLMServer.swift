import Foundation
import Hummingbird
import Logging
import LoopbackGuards
import RLMKit
import ServiceLifecycle

/// An OpenAI-compatible HTTP server in front of an ``RLM``: `POST /v1/chat/completions` (whole or streamed),
/// `GET /v1/models`, `GET /healthz` and `GET /metrics`, so any OpenAI client can use an RLM as a model.
public final class RLMServer: Sendable {
    /// What the server listens on and what it accepts.
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port (``run(onListening:)`` says which).
        public var port: Int
        /// The model id clients name; `GET /v1/models` lists it.
        public var modelID: String
        /// Requests must carry `Authorization: Bearer <token>` when set.
        public var authToken: String?
        /// Names the `Host` header may carry besides the loopback ones (`--allowed-host`). The Host check runs when
        /// the server listens on a loopback address, or on any address once this list is not empty.
        public var allowedHosts: [String]
        /// Web origins whose pages may call the server, with CORS (`--cors-origin`); other sites are refused.
        public var corsOrigins: [String]
        /// The folder whose files requests may name in `context_paths`; nil refuses `context_paths`.
        public var filesRoot: String?
        /// Runs at once; more get 429 with `Retry-After`.
        public var maxConcurrentRuns: Int
        /// Largest request body in bytes; larger ones get 413.
        public var maxRequestBytes: Int
        /// Bytes of context kept loaded between requests, by the cache's pristine REPLs and, apart, by the
        /// sessions; 0 keeps neither.
        public var cacheBytes: Int
        /// How long a drain waits for running requests before cancelling them.
        public var drainTimeout: Duration
        /// One trajectory log per run goes here; nil writes none.
        public var logDirectory: URL?
        /// How long a conversation's session lives without a request (`--session-ttl`).
        public var sessionTTL: Duration
        /// Sessions kept at once, each a REPL process; beyond it the least recently used idle one ends.
        public var maxSessions = 32
        /// Pristine loaded REPLs the context cache keeps, at most one per content.
        public var maxCachedContexts = 8
        /// How long an admitted request's body may take to arrive; a slower upload gets 408 and gives its run slot
        /// back, so a few slow clients cannot hold every slot.
        public var bodyTimeout: Duration = .seconds(60)
        /// The name every answer carries in `X-RLM-Instance` (`--instance-name`); nil: the host name and port.
        public var instanceName: String?
        /// A folder every replica sees, where sessions are saved after each answer and locked while in use, so
        /// that any replica can continue them (`--session-dir`); nil keeps sessions in this process.
        public var sessionDirectory: URL?
        /// Signs the sessions saved in ``sessionDirectory``; every replica needs the same (`--session-key-env`).
        public var sessionKey: SessionSigningKey = .userDefault

        public init(host: String = "127.0.0.1", port: Int = 8088, modelID: String = "rlm", authToken: String? = nil,
                    allowedHosts: [String] = [], corsOrigins: [String] = [], filesRoot: String? = nil,
                    maxConcurrentRuns: Int = 4, maxRequestBytes: Int = 128 << 20,
                    cacheBytes: Int = 1 << 30, drainTimeout: Duration = .seconds(30), logDirectory: URL? = nil,
                    sessionTTL: Duration = .seconds(1_800)) {
            self.host = host
            self.port = port
            self.modelID = modelID
            self.authToken = authToken
            self.allowedHosts = allowedHosts
            self.corsOrigins = corsOrigins
            self.filesRoot = filesRoot
            self.maxConcurrentRuns = maxConcurrentRuns
            self.maxRequestBytes = maxRequestBytes
            self.cacheBytes = cacheBytes
            self.drainTimeout = drainTimeout
            self.logDirectory = logDirectory
            self.sessionTTL = sessionTTL
        }
    }

    public let configuration: Configuration
    let rlm: RLM
    let gate: RunGate
    let metrics = ServerMetrics()
    let cache: ContextCache
    let sessions: SessionStore
    let filesRoot: FilesRoot?
    let instance: InstanceName
    private let stop = AsyncStream<Void>.makeStream()
    private let started = Int(Date().timeIntervalSince1970)

    /// Checks the configuration (the files root must be a folder) without opening any socket.
    public init(rlm: RLM, configuration: Configuration) throws {
        self.rlm = rlm
        self.configuration = configuration
        self.gate = RunGate(limit: configuration.maxConcurrentRuns)
        self.cache = ContextCache(maxBytes: configuration.cacheBytes, maxSpares: configuration.maxCachedContexts, metrics: metrics)
        let filesRoot = try configuration.filesRoot.map { try FilesRoot(path: $0) }
        let instance = InstanceName(configuration.instanceName)
        let shared = try configuration.sessionDirectory.map {
            try SharedSessionFolder(root: $0, key: configuration.sessionKey, instance: instance, filesRoot: filesRoot)
        }
        self.sessions = SessionStore(limits: .init(ttl: configuration.sessionTTL, maxSessions: configuration.maxSessions,
                                                   maxBytes: configuration.cacheBytes), metrics: metrics, shared: shared)
        self.filesRoot = filesRoot
        self.instance = instance
    }

    /// The name answers carry in `X-RLM-Instance`.
    public var instanceName: String { instance.value }

    /// Serves until ``drainAndStop()`` has finished; `onListening` gets the port once the socket is bound.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var logger = Logger(label: "rlm.serve")
        logger.logLevel = .warning
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { [instance, configured = configuration.instanceName] channel in
                let port = channel.localAddress?.port ?? 0
                instance.listening(on: port, configured: configured)
                await onListening(port)
            },
            logger: logger)
        // Stopping is a graceful shutdown of Hummingbird: it stops accepting and lets the responses under way be
        // written before it closes their connections.
        let services = ServiceGroup(services: [app], logger: logger)
        let stopSignal = stop.stream
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await services.run()
                return true
            }
            group.addTask {
                for await _ in stopSignal { break }
                await services.triggerGracefulShutdown()
                return false
            }
            // Serving ends the group (a failure to bind ends it at once; the stop task is then cancelled).
            while let servingEnded = try await group.next(), !servingEnded {}
            group.cancelAll()
        }
        await cache.closeAll()
        await sessions.closeAll()
    }

    /// Drains: new requests get 503 at once; running ones may finish within the drain timeout, after which they
    /// are cancelled (their REPLs killed); then the server stops.
    public func drainAndStop() async {
        await gate.beginDrain()
        let gate = self.gate
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await gate.waitUntilIdle(); return true }
            group.addTask { [timeout = configuration.drainTimeout] in
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? true
            group.cancelAll()
            return first
        }
        if !finished {
            await gate.cancelAll()
            await gate.waitUntilIdle()
        }
        stop.continuation.finish()
    }

    /// The number of runs going now.
    public var runningCount: Int { get async { await gate.runningCount } }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: InstanceHeaderMiddleware(name: instance))
        // The Host and Origin guards refuse in the OpenAI error shape themselves; the Origin guard adds the CORS
        // headers to every answer below it, refusals included.
        if Self.isLoopback(configuration.host) || !configuration.allowedHosts.isEmpty {
            // The address it listens on names it too (127.0.0.2, ::1 written as such).
            let own = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            let allowed = configuration.allowedHosts + (Self.isLoopback(configuration.host) ? [own] : [])
            router.add(middleware: HostAllowListMiddleware(allowedHosts: allowed))
        }
        // It serves no page of its own, so no Origin counts as its own: only --cors-origin lets one through.
        router.add(middleware: OriginAllowListMiddleware(
            allowedOrigins: configuration.corsOrigins, allowHeaders: ["Authorization", "Content-Type", "X-RLM-Session", "X-RLM-Context-Key"],
            exposeHeaders: ["Retry-After", "X-RLM-Session", "X-RLM-Instance"], allowSameOrigin: false))
        router.add(middleware: OpenAIErrorMiddleware(metrics: metrics, maxRequestBytes: configuration.maxRequestBytes))
        router.add(middleware: JSONContentTypeMiddleware())
        if let token = configuration.authToken { router.add(middleware: BearerAuthMiddleware.make(token: token)) }
        let chat = ChatCompletionHandler(
            modelID: configuration.modelID,
            runner: ContextRunner(rlm: rlm, logDirectory: configuration.logDirectory, cache: cache, sessions: sessions, metrics: metrics),
            gate: gate, metrics: metrics, filesRoot: filesRoot, maxRequestBytes: configuration.maxRequestBytes,
            bodyTimeout: configuration.bodyTimeout)
        router.post("/v1/chat/completions") { request, context in try await chat.respond(to: request, context: context) }
        let models = ModelList(data: [.init(id: configuration.modelID, created: started, rootModel: rlm.rootModel.name,
                                            subModel: rlm.subModel?.name)])
        router.get("/v1/models") { _, _ in Self.json(models) }
        router.get("/v1/models/:id") { _, context in
            guard let entry = models.data.first(where: { $0.id == context.parameters.get("id") }) else {
                throw APIError.notFound("no model \(context.parameters.get("id") ?? "") here; GET /v1/models lists this server's model.", code: "model_not_found")
            }
            return Self.json(entry)
        }
        let gate = self.gate
        router.get("/healthz") { _, _ in
            let (running, draining) = (await gate.runningCount, await gate.draining)
            var response = Self.json(["status": draining ? "draining" : "ok", "running": "\(running)"])
            if draining { response.status = .serviceUnavailable }
            return response
        }
        let metrics = self.metrics
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text)))
        }
        return router
    }

    /// True for the addresses only this machine reaches: 127.0.0.0/8, `::1` and `localhost`.
    public static func isLoopback(_ host: String) -> Bool {
        let trimmed = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if ["localhost", "::1"].contains(trimmed) { return true }
        let octets = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    static func json(_ value: some Encodable) -> Response {
        let data = (try? ChatCompletionHandler.encoder.encode(value)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// `GET /v1/models`.
struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "rlm"
        /// Extension: the models behind the RLM.
        var rootModel: String
        var subModel: String?
        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by", rootModel = "root_model", subModel = "sub_model"
        }
    }
    var object = "list"
    var data: [Model]
}
