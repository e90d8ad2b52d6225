import AsyncHTTPClient
import Foundation
import NIOCore

/// A Claude model behind Anthropic's Messages API (or a server speaking it).
public struct AnthropicModel: LanguageModel {
    public static let publicBaseURL = "https://api.anthropic.com"
    public static let apiVersion = "2023-06-01"

    public let name: String
    /// API root without `/v1` (a trailing `/v1` is accepted and dropped).
    public let baseURL: String
    private let apiKey: String?
    /// The Messages API requires a cap on the reply's length: this one, or a request's own cap when lower (a
    /// budget's, say), so a cap never asks for more than the model is known to write.
    public var defaultMaxOutputTokens: Int
    /// Longest wait for one whole reply: its head, its body, and a streamed reply to its end. A reply that
    /// stalls midway fails when it runs out, and is retried like any timeout.
    public var requestTimeout: Duration
    /// Longest silence between two pieces of a streamed reply before it counts as stalled (and is retried).
    public var streamIdleTimeout: Duration
    public var retry: RetryPolicy
    /// Lifetime of the prompt-cache entries a root turn writes (config `anthropic_cache_ttl`).
    public var cacheTTL: PromptCacheTTL

    public init(name: String, baseURL: String = AnthropicModel.publicBaseURL, apiKey: String? = nil,
                defaultMaxOutputTokens: Int = 8_192, requestTimeout: Duration = .seconds(600),
                streamIdleTimeout: Duration = .seconds(120), retry: RetryPolicy = .standard,
                cacheTTL: PromptCacheTTL = .fiveMinutes) {
        self.name = name
        self.baseURL = Self.normalizedBaseURL(baseURL)
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.defaultMaxOutputTokens = defaultMaxOutputTokens
        self.requestTimeout = requestTimeout
        self.streamIdleTimeout = streamIdleTimeout
        self.retry = retry
        self.cacheTTL = cacheTTL
    }

    public var endpointDescription: String { baseURL }

    public func withModelName(_ name: String) -> any LanguageModel {
        AnthropicModel(name: name, baseURL: baseURL, apiKey: apiKey, defaultMaxOutputTokens: defaultMaxOutputTokens,
                       requestTimeout: requestTimeout, streamIdleTimeout: streamIdleTimeout, retry: retry, cacheTTL: cacheTTL)
    }

    public static func normalizedBaseURL(_ raw: String) -> String {
        var url = raw.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/v1") { url.removeLast(3) }
        return url
    }

    /// Always nil: Anthropic's API does not report the window a model runs with, and the proxies that speak
    /// the Messages API (LiteLLM and others) serve none of the local servers' routes either.
    public func discoverContextWindow() async -> DiscoveredContextWindow? { nil }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        try await attributingErrors(to: .anthropic) {
            let (status, data) = try await HTTPTransport.send(try httpRequest(request, stream: false), endpoint: baseURL,
                                                              timeout: requestTimeout, retry: retry)
            guard (200..<300).contains(status) else { throw error(status: status, body: data) }
            return try decodeMessage(data, request: request)
        }
    }

    /// A whole Messages reply; an error envelope in its place (some proxies send one with HTTP 200) is the
    /// server's error. A reply without `usage` gets an estimate, marked as such.
    private func decodeMessage(_ data: Data, request: ModelRequest) throws -> ModelResponse {
        if ServerErrorReply.parse(data) != nil { throw error(status: 200, body: data) }
        struct Reply: Decodable {
            struct Block: Decodable {
                let type: String
                let text: String?
            }
            let model: String?
            let content: [Block]?
            let stopReason: String?
            let usage: Usage?
            enum CodingKeys: String, CodingKey {
                case model, content, usage
                case stopReason = "stop_reason"
            }
        }
        guard let reply = try? JSONDecoder().decode(Reply.self, from: data), let blocks = reply.content else {
            let sample = String(decoding: data.prefix(160), as: UTF8.self).redacting(apiKey)
            throw ModelError.malformedResponse(endpoint: baseURL, detail: "it starts: \(sample)",
                                               provider: .anthropic)
        }
        // Thinking blocks are the model's scratchpad, not its answer.
        let text = blocks.filter { $0.type == "text" }.compactMap(\.text).joined()
        return ModelResponse(text: text, finishReason: FinishReason(wireValue: reply.stopReason),
                             usage: reply.usage?.tokens ?? .estimate(request: request, reply: text), model: reply.model ?? name)
    }

    /// Streams the reply over server-sent events, skipping thinking deltas.
    /// A stream that breaks before any text arrived is sent again (the retry policy of plain requests).
    public func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        try await attributingErrors(to: .anthropic) {
            try await HTTPTransport.retryingStream(retry: retry, onDelta: onDelta) { try await streamOnce(request, onDelta: $0) }
        }
    }

    private func streamOnce(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        let reply = try await HTTPTransport.open(try httpRequest(request, stream: true), endpoint: baseURL,
                                                 timeout: requestTimeout, retry: retry)
        guard (200..<300).contains(reply.status) else { throw error(status: reply.status, body: await reply.errorBody()) }
        if HTTPTransport.isPlainJSON(reply.response) {
            let body = try await reply.collect()
            await reply.released()
            let whole = try decodeMessage(body, request: request)
            onDelta(whole.text)
            return whole
        }
        struct Event: Decodable {
            struct Message: Decodable {
                let model: String?
                let usage: Usage?
            }
            struct Delta: Decodable {
                let type: String?
                let text: String?
                let stopReason: String?
                enum CodingKeys: String, CodingKey {
                    case type, text
                    case stopReason = "stop_reason"
                }
            }
            let type: String
            let message: Message?
            let delta: Delta?
            let usage: Usage?
        }
        var text = ""
        var stopReason: String?
        var usage: Usage?
        var served = name
        for try await sse in reply.serverSentEvents(idleTimeout: streamIdleTimeout) {
            let data = Data(sse.data.utf8)
            guard let event = try? JSONDecoder().decode(Event.self, from: data) else {
                if ServerErrorReply.parse(data) != nil { throw error(status: 200, body: data) }
                throw ModelError.malformedResponse(endpoint: baseURL, detail: "a streamed event is not JSON: \(String(sse.data.prefix(120)).redacting(apiKey))",
                                                   provider: .anthropic)
            }
            switch event.type {
            case "message_start":
                if let model = event.message?.model { served = model }
                if let start = event.message?.usage { usage = start }
            case "content_block_delta":
                if event.delta?.type == "text_delta", let piece = event.delta?.text {
                    text += piece
                    onDelta(piece)
                }
            case "message_delta":
                if let reason = event.delta?.stopReason { stopReason = reason }
                if let counts = event.usage { usage = usage?.updated(by: counts) ?? counts }
            case "error":
                throw error(status: 200, body: data)
            default:
                break
            }
        }
        // The events of a cancelled task just end: what arrived is no whole reply.
        try Task.checkCancellation()
        return ModelResponse(text: text, finishReason: FinishReason(wireValue: stopReason),
                             usage: usage?.tokens ?? .estimate(request: request, reply: text), model: served)
    }

    /// Token counts as the Messages API reports them. Its `input_tokens` leaves out the cached prompt tokens, which
    /// ``TokenUsage`` counts as input too, marked as read or written.
    struct Usage: Decodable {
        /// The cache writes by lifetime.
        struct CacheCreation: Decodable {
            let oneHour: Int?
            enum CodingKeys: String, CodingKey { case oneHour = "ephemeral_1h_input_tokens" }
        }
        var inputTokens: Int?
        var outputTokens: Int?
        var cacheCreationInputTokens: Int?
        var cacheReadInputTokens: Int?
        var cacheCreation: CacheCreation?
        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
            case cacheCreationInputTokens = "cache_creation_input_tokens"
            case cacheReadInputTokens = "cache_read_input_tokens"
            case cacheCreation = "cache_creation"
        }
        /// Nil when neither input nor output was reported.
        var tokens: TokenUsage? {
            guard inputTokens != nil || outputTokens != nil else { return nil }
            let read = cacheReadInputTokens ?? 0
            let written = cacheCreationInputTokens ?? 0
            return TokenUsage(inputTokens: (inputTokens ?? 0) + written + read, outputTokens: outputTokens ?? 0,
                              cacheReadTokens: read, cacheWriteTokens: written,
                              cacheWriteOneHourTokens: cacheCreation?.oneHour ?? 0)
        }
        /// These counts with the ones a later event reports (a stream's `message_delta` carries running totals;
        /// an input count of 0 there means none was reported).
        func updated(by later: Usage) -> Usage {
            var merged = self
            if let input = later.inputTokens, input > 0 { merged.inputTokens = input }
            if let output = later.outputTokens { merged.outputTokens = output }
            if let read = later.cacheReadInputTokens { merged.cacheReadInputTokens = read }
            if let written = later.cacheCreationInputTokens { merged.cacheCreationInputTokens = written }
            if let creation = later.cacheCreation { merged.cacheCreation = creation }
            return merged
        }
    }

    private func httpRequest(_ request: ModelRequest, stream: Bool) throws -> HTTPClientRequest {
        // The system prompt travels apart; consecutive turns of one role are merged, as the API requires alternation.
        let system = request.messages.filter { $0.role == .system }.map(\.content).joined(separator: "\n\n")
        var turns: [[String: String]] = []
        for message in request.messages where message.role != .system {
            if let last = turns.last, last["role"] == message.role.rawValue {
                turns[turns.count - 1]["content"] = (last["content"] ?? "") + "\n\n" + message.content
            } else {
                turns.append(["role": message.role.rawValue, "content": message.content])
            }
        }
        var body: [String: any Sendable] = [
            "model": name,
            "max_tokens": min(request.maxOutputTokens ?? defaultMaxOutputTokens, defaultMaxOutputTokens),
            "messages": turns,
        ]
        if !system.isEmpty { body["system"] = system }
        if let temperature = request.temperature { body["temperature"] = temperature }
        if stream { body["stream"] = true }
        if request.promptCacheKey != nil {
            let marked = Self.markingCacheBreakpoints(system: system, turns: turns, ttl: cacheTTL,
                                                      minimumTokens: Self.minimumCacheableTokens(model: name))
            body["system"] = marked.system
            body["messages"] = marked.messages
        }
        var http = HTTPClientRequest(url: baseURL + "/v1/messages")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "anthropic-version", value: Self.apiVersion)
        if let apiKey { http.headers.add(name: "x-api-key", value: apiKey) }
        http.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        return http
    }

    private func error(status: Int, body: Data) -> ModelError {
        .fromServer(status: status, body: body, model: name, endpoint: baseURL, apiKey: apiKey, provider: .anthropic)
    }
}
