import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A local server speaking the OpenAI Chat Completions wire protocol on 127.0.0.1, whose replies come from
/// a closure. Tests and benchmarks use it to drive the real client, REPL and CLI without any network.
public final class ModelSimulator: Sendable {
    public typealias Handler = @Sendable (SimulatedRequest) async -> SimulatedReply

    /// Base URL to give a client, e.g. `http://127.0.0.1:54321/v1`.
    public let baseURL: String
    public let port: Int
    private let serverChannel: any Channel
    private let counters: CounterBox
    private let openConnections: OpenConnections

    final class CounterBox: Sendable {
        let state = Mutex(Counters())
        func withLock<T>(_ body: (inout Counters) -> T) -> T { state.withLock { body(&$0) } }
    }

    struct Counters {
        var inFlight = 0
        var peakInFlight = 0
        var requests = 0
        var firstRequestAt: ContinuousClock.Instant?
        var log: [LoggedRequest] = []
    }

    /// Chat requests received so far.
    public var requestCount: Int { counters.withLock { $0.requests } }
    /// The most chat requests that were being handled at the same moment.
    public var peakInFlight: Int { counters.withLock { $0.peakInFlight } }
    /// When the first chat request arrived.
    public var firstRequestAt: ContinuousClock.Instant? { counters.withLock { $0.firstRequestAt } }

    /// Every request received so far, chat or not, in order of arrival.
    public var requestLog: [LoggedRequest] { counters.withLock { $0.log } }

    public func resetCounters() { counters.withLock { $0 = Counters() } }

    /// Starts listening on 127.0.0.1 at an ephemeral port. `models` is what `GET /v1/models` lists; `kind` says
    /// which real server's context-window routes it answers too.
    /// `apiKey`, when given, is the key every request must carry (`Authorization: Bearer KEY`, or `x-api-key` on
    /// the Anthropic route); a request without it gets the 401 each provider sends for a wrong key.
    /// `promptCaching` plays the providers' prompt caches (off unless asked).
    public static func start(models: [String] = ["simulated-model"], kind: SimulatedServerKind = .plain,
                             apiKey: String? = nil, promptCaching: SimulatedPromptCaching = .off,
                             handler: @escaping Handler) async throws -> ModelSimulator {
        let counters = CounterBox()
        let promptCache = promptCaching == .off ? nil : PromptCacheEmulator()
        let open = OpenConnections()
        // A plain channel handler per connection, not an async channel: a connection accepted while the server is
        // shutting down is then simply closed, where SwiftNIO traps on an async channel nobody took over.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP level: at the socket level the same number is SO_DEBUG, which a non-root user may not set (EACCES).
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(route: Route(models: models, kind: kind, apiKey: apiKey, handler: handler,
                                                       promptCache: promptCache),
                                          counters: counters, open: open))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ModelSimulator(server: server, counters: counters, open: open)
    }

    private init(server: any Channel, counters: CounterBox, open: OpenConnections) {
        let port = server.localAddress?.port ?? 0
        self.port = port
        self.baseURL = "http://127.0.0.1:\(port)/v1"
        self.serverChannel = server
        self.counters = counters
        self.openConnections = open
    }

    /// The connections being served, so that shutting down can close them (idle keep-alive ones included).
    final class OpenConnections: Sendable {
        private let state = Mutex((channels: [ObjectIdentifier: any Channel](), closing: false))

        func add(_ channel: any Channel) {
            let closing = state.withLock { state -> Bool in
                if !state.closing { state.channels[ObjectIdentifier(channel)] = channel }
                return state.closing
            }
            if closing { channel.close(promise: nil) }
        }

        func remove(_ channel: any Channel) {
            _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
        }

        func closeAll() {
            let channels = state.withLock { state -> [any Channel] in
                state.closing = true
                return Array(state.channels.values)
            }
            channels.forEach { $0.close(promise: nil) }
        }
    }

    /// Stops listening and closes every connection.
    public func shutdown() async {
        try? await serverChannel.close()
        openConnections.closeAll()
    }

    /// The reply to one request. A reply with a delay carries the instant it is due (the delay after the handler
    /// answered) and leaves the request counted in flight until the connection sends it then.
    static func respond(to head: HTTPRequestHead, body: ByteBuffer, route: Route,
                        counters: CounterBox) async -> SimulatedResponse {
        let (models, kind, handler) = (route.models, route.kind, route.handler)
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let authorization = head.headers.first(name: "Authorization") ?? head.headers.first(name: "x-api-key")
        counters.withLock { $0.log.append(LoggedRequest(method: head.method.rawValue, path: path, authorization: authorization)) }
        if let refusal = route.refusal(authorization: head.headers.first(name: "Authorization"),
                                       apiKeyHeader: head.headers.first(name: "x-api-key"), path: path) {
            return refusal
        }
        if let discovery = kind.discoveryReply(method: head.method.rawValue, path: path,
                                               body: Data(body.readableBytesView), models: models) {
            return SimulatedResponse(discovery.status, json(discovery.json), [], false)
        }
        if head.method == .GET && path.hasSuffix("/models") {
            let list = models.map { id in
                ["id": id, "object": "model", "owned_by": "simulator"].merging(kind.modelListFields(for: id)) { $1 }
            }
            return SimulatedResponse(200, json(["object": "list", "data": list]), [], false)
        }
        let isAnthropic = path.hasSuffix("/v1/messages")
        guard head.method == .POST && (path.hasSuffix("/chat/completions") || isAnthropic) else {
            return SimulatedResponse(404, json(["error": ["message": "no route for \(head.method) \(path)"]]), [], false)
        }
        guard var wire = try? JSONDecoder().decode(ChatWire.self, from: Data(body.readableBytesView)) else {
            return SimulatedResponse(400, json(["error": ["message": "request body is not a chat request"]]), [], false)
        }
        if isAnthropic {
            guard wire.maxTokens != nil, head.headers.first(name: "anthropic-version") != nil else {
                return SimulatedResponse(400, json(["type": "error", "error": ["type": "invalid_request_error",
                                                              "message": "max_tokens and anthropic-version are required"]]), [], false)
            }
            if let system = wire.system {
                wire.messages.insert(.init(role: "system", content: system.text, cacheTTL: system.cacheTTL, cacheMarks: system.marks), at: 0)
            }
        }
        counters.withLock {
            $0.requests += 1
            $0.inFlight += 1
            $0.peakInFlight = max($0.peakInFlight, $0.inFlight)
            if $0.firstRequestAt == nil { $0.firstRequestAt = .now }
        }
        let stream = wire.stream ?? false
        let request = SimulatedRequest(model: wire.model, messages: wire.messages,
                                       authorization: authorization,
                                       isAnthropic: isAnthropic, stream: stream,
                                       maxTokens: wire.maxTokens, maxCompletionTokens: wire.maxCompletionTokens)
        let reply = await handler(request).cut(to: request.outputCap)
        let cache = reply.status == 200 ? route.promptCache?.observe(request) : nil
        var response = response(to: reply, wire: wire, isAnthropic: isAnthropic, stream: stream, cache: cache)
        response.sendAt = reply.delay > .zero ? .now + reply.delay : nil
        response.onSend = { counters.withLock { $0.inFlight -= 1 } }
        return response
    }

    private static func response(to reply: SimulatedReply, wire: ChatWire, isAnthropic: Bool, stream: Bool,
                                 cache: SimulatedCacheUsage?) -> SimulatedResponse {
        if let raw = reply.rawBody {
            return SimulatedResponse(reply.status, raw, reply.headers, reply.rawBodyIsStream).pacing(as: reply)
        }
        if reply.status != 200 {
            let message = reply.errorMessage ?? "error"
            guard isAnthropic else {
                return SimulatedResponse(reply.status, json(["error": ["message": message, "type": "simulated"]]), reply.headers, false)
                    .pacing(as: reply)
            }
            let type = anthropicErrorTypes[reply.status] ?? (reply.status >= 500 ? "api_error" : "invalid_request_error")
            return SimulatedResponse(reply.status, json(["type": "error", "error": ["type": type, "message": message]]), reply.headers, false)
                .pacing(as: reply)
        }
        let promptTokens = reply.promptTokens ?? wire.messages.reduce(0) { $0 + $1.content.count / 4 }
        let completionTokens = reply.completionTokens ?? max(1, reply.text.count / 4)
        if isAnthropic {
            return SimulatedResponse(200, events: anthropicBody(reply, model: wire.model, promptTokens: promptTokens,
                                                                completionTokens: completionTokens, cache: cache, stream: stream),
                                     reply.headers, stream).pacing(as: reply)
        }
        if stream {
            return SimulatedResponse(200, events: openAIStream(reply, model: wire.model, promptTokens: promptTokens,
                                                               completionTokens: completionTokens, cache: cache), reply.headers, true)
                .pacing(as: reply)
        }
        return SimulatedResponse(200, completionBody(reply, model: wire.model, promptTokens: promptTokens,
                                                     completionTokens: completionTokens, cache: cache), reply.headers, false)
            .pacing(as: reply)
    }

    /// The fields of a chat request (OpenAI or Anthropic) that the simulator reads.
    private struct ChatWire: Decodable {
        var model: String
        var messages: [SimulatedRequest.Message]
        var system: SimulatedRequest.BlockText?
        var stream: Bool?
        var maxTokens: Int?
        var maxCompletionTokens: Int?
        enum CodingKeys: String, CodingKey {
            case model, messages, system, stream
            case maxTokens = "max_tokens"
            case maxCompletionTokens = "max_completion_tokens"
        }
    }

    /// A whole OpenAI chat completion. Only its strings go through the JSON encoder: a wide fan-out asks for
    /// thousands, and the simulator shares the machine with the client it measures.
    static func completionBody(_ reply: SimulatedReply, model: String, promptTokens: Int, completionTokens: Int,
                               cache: SimulatedCacheUsage? = nil) -> String {
        func quoted(_ text: String) -> String {
            (try? stringEncoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        }
        let usage = reply.omitsUsage ? "" : #","usage":{"prompt_tokens":\#(promptTokens),"completion_tokens":\#(completionTokens),"total_tokens":\#(promptTokens + completionTokens)\#(cache.map { #","prompt_tokens_details":{"cached_tokens":\#(min($0.readTokens, promptTokens))}"# } ?? "")}"#
        return #"{"id":"chatcmpl-sim","object":"chat.completion","created":0,"model":\#(quoted(model)),"choices":[{"index":0,"message":{"role":"assistant","content":\#(quoted(reply.text))},"finish_reason":\#(quoted(reply.finishReason))}]\#(usage)}"#
    }

    private static let stringEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }()

    /// The error types of Anthropic's API by HTTP status, as its error documentation lists them.
    private static let anthropicErrorTypes = [400: "invalid_request_error", 401: "authentication_error",
                                              403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                                              429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"]

    /// The reply cut into a few pieces, as a streaming server would send it.
    private static func pieces(of text: String) -> [String] {
        let size = max(1, text.count / 4 + 1)
        var result: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            result.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return result
    }

    /// An OpenAI stream: an opening chunk with the role and no text (as OpenAI, vLLM and llama.cpp send), the
    /// text in pieces, the finish reason, then usage.
    private static func openAIStream(_ reply: SimulatedReply, model: String, promptTokens: Int, completionTokens: Int,
                                     cache: SimulatedCacheUsage?) -> [String] {
        var events = [json(["id": "chatcmpl-sim", "object": "chat.completion.chunk", "model": model,
                            "choices": [["index": 0, "delta": ["role": "assistant", "content": ""]]]])]
        events += pieces(of: reply.text).map { piece in
            json(["id": "chatcmpl-sim", "object": "chat.completion.chunk", "model": model,
                  "choices": [["index": 0, "delta": ["content": piece]]]])
        }
        events.append(json(["id": "chatcmpl-sim", "object": "chat.completion.chunk", "model": model,
                            "choices": [["index": 0, "delta": [String: String](), "finish_reason": reply.finishReason]]]))
        if !reply.omitsUsage {
            events.append(json(["id": "chatcmpl-sim", "object": "chat.completion.chunk", "model": model, "choices": [Any](),
                                "usage": ["prompt_tokens": promptTokens, "completion_tokens": completionTokens]
                                    .merging(cache?.openAIFields(promptTokens: promptTokens) ?? [:]) { $1 }]))
        }
        return events.map { "data: \($0)\n\n" } + ["data: [DONE]\n\n"]
    }

    private static func anthropicBody(_ reply: SimulatedReply, model: String, promptTokens: Int, completionTokens: Int,
                                      cache: SimulatedCacheUsage?, stream: Bool) -> [String] {
        let input = cache?.anthropicFields(promptTokens: promptTokens) ?? ["input_tokens": promptTokens]
        let stopReason = reply.finishReason == "length" ? "max_tokens" : "end_turn"
        let usage: [String: Any] = reply.omitsUsage ? [:] : ["usage": input.merging(["output_tokens": completionTokens]) { $1 }]
        guard stream else {
            return [json(["id": "msg_sim", "type": "message", "role": "assistant", "model": model,
                         "content": [["type": "thinking", "thinking": "(simulated thoughts)", "signature": "x"],
                                     ["type": "text", "text": reply.text]],
                         "stop_reason": stopReason].merging(usage) { $1 })]
        }
        let startUsage: [String: Any] = reply.omitsUsage ? [:] : ["usage": input.merging(["output_tokens": 1]) { $1 }]
        let endUsage: [String: Any] = reply.omitsUsage ? [:] : ["usage": ["output_tokens": completionTokens]]
        var events: [(String, Any)] = [
            ("message_start", ["type": "message_start",
                               "message": ["id": "msg_sim", "model": model, "content": [Any]()].merging(startUsage) { $1 }]),
            ("content_block_start", ["type": "content_block_start", "index": 0, "content_block": ["type": "thinking", "thinking": ""]]),
            ("content_block_delta", ["type": "content_block_delta", "index": 0, "delta": ["type": "thinking_delta", "thinking": "(simulated thoughts)"]]),
            ("content_block_stop", ["type": "content_block_stop", "index": 0]),
            ("content_block_start", ["type": "content_block_start", "index": 1, "content_block": ["type": "text", "text": ""]]),
        ]
        for piece in pieces(of: reply.text) {
            events.append(("content_block_delta", ["type": "content_block_delta", "index": 1, "delta": ["type": "text_delta", "text": piece]]))
        }
        events.append(("content_block_stop", ["type": "content_block_stop", "index": 1]))
        events.append(("message_delta", ["type": "message_delta", "delta": ["stop_reason": stopReason]].merging(endUsage) { $1 }))
        events.append(("message_stop", ["type": "message_stop"]))
        return events.map { "event: \($0.0)\ndata: \(json($0.1))\n\n" }
    }

    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
