import AsyncHTTPClient
import Foundation
import NIOCore

/// A model behind any OpenAI-compatible Chat Completions API: OpenAI, vLLM, SGLang,
/// llama.cpp server, Ollama, LM Studio, OpenRouter…
public struct OpenAICompatibleModel: LanguageModel {
    public static let publicBaseURL = "https://api.openai.com/v1"

    public let name: String
    /// Base URL of the API, ending before `/chat/completions` (usually in `/v1`).
    public let baseURL: String
    private let apiKey: String?
    /// Longest wait for one whole reply: its head, its body, and a streamed reply to its end. A reply that
    /// stalls midway fails when it runs out, and is retried like any timeout.
    public var requestTimeout: Duration
    /// Longest silence between two pieces of a streamed reply before it counts as stalled (and is retried).
    public var streamIdleTimeout: Duration
    /// Retries on rate limits, overload, server faults, timeouts and refused connections.
    public var retry: RetryPolicy

    public init(name: String, baseURL: String = OpenAICompatibleModel.publicBaseURL, apiKey: String? = nil,
                requestTimeout: Duration = .seconds(600), streamIdleTimeout: Duration = .seconds(120),
                retry: RetryPolicy = .standard) {
        self.name = name
        self.baseURL = Self.normalizedBaseURL(baseURL)
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.requestTimeout = requestTimeout
        self.streamIdleTimeout = streamIdleTimeout
        self.retry = retry
    }

    public var endpointDescription: String { baseURL }

    public func withModelName(_ name: String) -> any LanguageModel {
        OpenAICompatibleModel(name: name, baseURL: baseURL, apiKey: apiKey, requestTimeout: requestTimeout,
                              streamIdleTimeout: streamIdleTimeout, retry: retry)
    }

    /// Accepts `http://host:port` as well as `http://host:port/v1`: a bare host gets `/v1`.
    public static func normalizedBaseURL(_ raw: String) -> String {
        var url = raw.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        if let parsed = URL(string: url), parsed.path.isEmpty || parsed.path == "/" {
            url += "/v1"
        }
        return url
    }

    /// The context window the server runs this model with, asked of llama.cpp, Ollama, LM Studio and vLLM on this
    /// machine or a private network (see `ContextWindowProbe`); nil for public APIs and servers that do not say.
    public func discoverContextWindow() async -> DiscoveredContextWindow? {
        await ContextWindowProbe.discover(baseURL: baseURL, model: name, apiKey: apiKey)
    }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        try await attributingErrors(to: .openAICompatible) {
            let (status, data) = try await HTTPTransport.send(httpRequest(request, stream: false), endpoint: baseURL,
                                                              timeout: requestTimeout, retry: retry)
            guard (200..<300).contains(status) else {
                throw Self.error(status: status, body: data, model: name, endpoint: baseURL, apiKey: apiKey)
            }
            return try Self.decodeCompletion(data, request: request, model: name, endpoint: baseURL, apiKey: apiKey)
        }
    }

    /// Streams the reply over server-sent events (`stream: true`, usage requested in the last chunk).
    /// A stream that breaks before any text arrived is sent again (the retry policy of plain requests).
    public func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        try await attributingErrors(to: .openAICompatible) {
            try await HTTPTransport.retryingStream(retry: retry, onDelta: onDelta) { try await streamOnce(request, onDelta: $0) }
        }
    }

    private func streamOnce(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        let reply = try await HTTPTransport.open(httpRequest(request, stream: true), endpoint: baseURL,
                                                 timeout: requestTimeout, retry: retry)
        guard (200..<300).contains(reply.status) else {
            throw Self.error(status: reply.status, body: await reply.errorBody(), model: name, endpoint: baseURL, apiKey: apiKey)
        }
        if HTTPTransport.isPlainJSON(reply.response) {
            let body = try await reply.collect()
            await reply.released()
            let whole = try Self.decodeCompletion(body, request: request, model: name, endpoint: baseURL, apiKey: apiKey)
            onDelta(whole.text)
            return whole
        }
        struct Chunk: Decodable {
            struct Choice: Decodable {
                struct Delta: Decodable { let content: String? }
                let delta: Delta?
                let finishReason: String?
                enum CodingKeys: String, CodingKey {
                    case delta
                    case finishReason = "finish_reason"
                }
            }
            let model: String?
            let choices: [Choice]?
            let usage: ChatCompletion.Usage?
        }
        var text = ""
        var finish: String?
        var usage: TokenUsage?
        var served = name
        for try await event in reply.serverSentEvents(idleTimeout: streamIdleTimeout) {
            if event.data == "[DONE]" { break }
            let data = Data(event.data.utf8)
            if event.data.contains("\"error\""), ServerErrorReply.parse(data) != nil {
                throw ModelError.fromServer(status: 200, body: data, model: name, endpoint: baseURL, apiKey: apiKey,
                                            provider: .openAICompatible)
            }
            guard let chunk = try? JSONDecoder().decode(Chunk.self, from: data) else {
                throw ModelError.malformedResponse(endpoint: baseURL, detail: "a streamed chunk is not JSON: \(String(event.data.prefix(120)).redacting(apiKey))",
                                                   provider: .openAICompatible)
            }
            if let model = chunk.model { served = model }
            if let choice = chunk.choices?.first {
                if let piece = choice.delta?.content, !piece.isEmpty {
                    text += piece
                    onDelta(piece)
                }
                if let reason = choice.finishReason { finish = reason }
            }
            if let reported = chunk.usage?.tokens { usage = reported }
        }
        // The events of a cancelled task just end: what arrived is no whole reply.
        try Task.checkCancellation()
        // Some servers (llama-cpp-python among them) ignore `include_usage` when streaming: estimate then,
        // and say so, rather than count nothing.
        return ModelResponse(text: text, finishReason: FinishReason(wireValue: finish),
                             usage: usage ?? .estimate(request: request, reply: text), model: served)
    }

    /// `max_completion_tokens` on OpenAI's own API, `max_tokens` on every other server.
    var capField: ChatCompletionRequestBody.CapField {
        isOpenAIsOwnAPI ? .maxCompletionTokens : .maxTokens
    }

    /// The base URL is OpenAI's own API, which knows fields other servers may refuse.
    var isOpenAIsOwnAPI: Bool { URL(string: baseURL)?.host?.lowercased() == "api.openai.com" }

    private func httpRequest(_ request: ModelRequest, stream: Bool) throws -> HTTPClientRequest {
        var body = ChatCompletionRequestBody(
            model: name, messages: request.messages.map { .init(role: $0.role.rawValue, content: $0.content) },
            outputCap: request.maxOutputTokens, capField: capField, temperature: request.temperature, stream: stream ? true : nil,
            streamOptions: stream ? .init(includeUsage: true) : nil)
        if isOpenAIsOwnAPI { body.promptCacheKey = request.promptCacheKey }
        var http = HTTPClientRequest(url: baseURL + "/chat/completions")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { http.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        http.body = .bytes(ByteBuffer(bytes: try ChatCompletionRequestBody.encoder.encode(body)))
        return http
    }

    /// A whole chat completion; an error envelope in its place is the server's error. A reply without `usage`
    /// gets an estimate, marked as such.
    static func decodeCompletion(_ data: Data, request: ModelRequest, model: String, endpoint: String,
                                 apiKey: String?) throws -> ModelResponse {
        let decoded = try? ChatCompletion.decoder.decode(ChatCompletion.self, from: data)
        // Only a body that is not plainly a completion is read again as a possible error envelope.
        if decoded?.looksLikeAnError ?? true, ServerErrorReply.parse(data) != nil {
            throw ModelError.fromServer(status: 200, body: data, model: model, endpoint: endpoint, apiKey: apiKey,
                                        provider: .openAICompatible)
        }
        guard let completion = decoded else {
            let sample = String(decoding: data.prefix(200), as: UTF8.self).redacting(apiKey)
            throw ModelError.malformedResponse(endpoint: endpoint, detail: "could not decode: \(sample)",
                                               provider: .openAICompatible)
        }
        guard let choice = completion.choices?.first else {
            throw ModelError.malformedResponse(endpoint: endpoint, detail: "no choices in the reply",
                                               provider: .openAICompatible)
        }
        let text = choice.message?.content ?? ""
        let usage = completion.usage?.tokens
        return ModelResponse(text: text, finishReason: FinishReason(wireValue: choice.finishReason),
                             usage: usage ?? .estimate(request: request, reply: text), model: completion.model ?? model)
    }

    /// The error for a failure status (or an error envelope), naming the OpenAI-compatible API.
    static func error(status: Int, body: Data, model: String, endpoint: String, apiKey: String?) -> ModelError {
        .fromServer(status: status, body: body, model: model, endpoint: endpoint, apiKey: apiKey, provider: .openAICompatible)
    }

    /// Names of the models the server lists at `GET /models`.
    public static func listModels(baseURL: String, apiKey: String?, timeout: Duration = .seconds(10)) async throws -> [String] {
        let base = normalizedBaseURL(baseURL)
        var http = HTTPClientRequest(url: base + "/models")
        if let apiKey, !apiKey.isEmpty { http.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        let (status, data) = try await attributingErrors(to: .openAICompatible) {
            try await HTTPTransport.send(http, endpoint: base, timeout: timeout, retry: .none)
        }
        guard (200..<300).contains(status) else {
            throw error(status: status, body: data, model: "(listing models)", endpoint: base, apiKey: apiKey)
        }
        struct ModelList: Decodable {
            struct Entry: Decodable { let id: String }
            let data: [Entry]
        }
        guard let list = try? JSONDecoder().decode(ModelList.self, from: data) else {
            throw ModelError.malformedResponse(endpoint: base, detail: "GET /models did not return an OpenAI model list",
                                               provider: .openAICompatible)
        }
        return list.data.map(\.id)
    }
}

/// The parts of an OpenAI chat completion that the engine reads.
struct ChatCompletion: Decodable {
    struct Choice: Decodable {
        struct Message: Decodable { let content: String? }
        let message: Message?
        let finishReason: String?
        enum CodingKeys: String, CodingKey {
            case message
            case finishReason = "finish_reason"
        }
    }
    /// Token counts; `prompt_tokens` includes the cached ones that `prompt_tokens_details.cached_tokens` reports.
    struct Usage: Decodable {
        struct PromptDetails: Decodable {
            let cachedTokens: Int?
            enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
        }
        let promptTokens: Int?
        let completionTokens: Int?
        let promptTokensDetails: PromptDetails?
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case promptTokensDetails = "prompt_tokens_details"
        }
        /// Nil when the server reported neither count.
        var tokens: TokenUsage? {
            guard promptTokens != nil || completionTokens != nil else { return nil }
            return TokenUsage(inputTokens: promptTokens ?? 0, outputTokens: completionTokens ?? 0,
                              cacheReadTokens: promptTokensDetails?.cachedTokens ?? 0)
        }
    }
    /// Present, whatever its JSON value.
    struct Presence: Decodable {
        init(from decoder: any Decoder) throws {}
    }
    let model: String?
    let choices: [Choice]?
    let usage: Usage?
    let error: Presence?
    let object: String?
    let type: String?

    static let decoder = JSONDecoder()

    /// Whether the body may be an error envelope (`ServerErrorReply`) rather than a completion.
    var looksLikeAnError: Bool {
        error != nil || choices?.isEmpty ?? true || object == "error" || type == "error"
    }
}

/// The body of a Chat Completions request.
struct ChatCompletionRequestBody: Encodable {
    struct Message: Encodable {
        let role: String
        let content: String
    }
    struct StreamOptions: Encodable {
        let includeUsage: Bool
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }
    let model: String
    let messages: [Message]
    /// Which name the reply's cap goes by: OpenAI's own API wants `max_completion_tokens` (its reasoning models
    /// refuse `max_tokens`); other servers know `max_tokens`.
    enum CapField: Sendable { case maxTokens, maxCompletionTokens }
    let maxTokens: Int?
    let maxCompletionTokens: Int?
    let temperature: Double?
    let stream: Bool?
    let streamOptions: StreamOptions?
    /// Routes the turns of one conversation to the same cache on OpenAI's API (sent only there).
    var promptCacheKey: String?
    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, stream
        case promptCacheKey = "prompt_cache_key"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case streamOptions = "stream_options"
    }

    init(model: String, messages: [Message], outputCap: Int?, capField: CapField, temperature: Double?, stream: Bool?,
         streamOptions: StreamOptions?) {
        self.model = model
        self.messages = messages
        self.maxTokens = capField == .maxTokens ? outputCap : nil
        self.maxCompletionTokens = capField == .maxCompletionTokens ? outputCap : nil
        self.temperature = temperature
        self.stream = stream
        self.streamOptions = streamOptions
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }()
}
