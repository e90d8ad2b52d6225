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
    /// Longest wait for one reply.
    public var requestTimeout: Duration
    /// Retries on rate limits, overload, server faults, timeouts and refused connections.
    public var retry: RetryPolicy

    public init(name: String, baseURL: String = OpenAICompatibleModel.publicBaseURL, apiKey: String? = nil,
                requestTimeout: Duration = .seconds(600), retry: RetryPolicy = .standard) {
        self.name = name
        self.baseURL = Self.normalizedBaseURL(baseURL)
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.requestTimeout = requestTimeout
        self.retry = retry
    }

    public var endpointDescription: String { baseURL }

    public func withModelName(_ name: String) -> any LanguageModel {
        OpenAICompatibleModel(name: name, baseURL: baseURL, apiKey: apiKey, requestTimeout: requestTimeout, retry: retry)
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

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        let (status, data) = try await HTTPTransport.send(httpRequest(request, stream: false), endpoint: baseURL,
                                                          timeout: requestTimeout, retry: retry)
        guard (200..<300).contains(status) else {
            throw Self.error(status: status, body: data, model: name, endpoint: baseURL, apiKey: apiKey)
        }
        return try Self.decodeCompletion(data, fallbackModel: name, endpoint: baseURL)
    }

    /// Streams the reply over server-sent events (`stream: true`, usage requested in the last chunk).
    /// A stream that breaks before any text arrived is sent again (the retry policy of plain requests).
    public func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        try await HTTPTransport.retryingStream(retry: retry, onDelta: onDelta) { try await streamOnce(request, onDelta: $0) }
    }

    private func streamOnce(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        let response = try await HTTPTransport.open(httpRequest(request, stream: true), endpoint: baseURL,
                                                    timeout: requestTimeout, retry: retry)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = await HTTPTransport.errorBody(of: response)
            throw Self.error(status: status, body: body, model: name, endpoint: baseURL, apiKey: apiKey)
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
            let error: ChatCompletion.ErrorBody?
        }
        var text = ""
        var finish: String?
        var usage: TokenUsage?
        var served = name
        for try await event in HTTPTransport.serverSentEvents(response, endpoint: baseURL, timeout: requestTimeout) {
            if event.data == "[DONE]" { break }
            guard let chunk = try? JSONDecoder().decode(Chunk.self, from: Data(event.data.utf8)) else {
                throw ModelError.malformedResponse(endpoint: baseURL, detail: "a streamed chunk is not JSON: \(event.data.prefix(120))")
            }
            if let message = chunk.error?.message { throw ModelError.serverError(endpoint: baseURL, status: 200, detail: message) }
            if let model = chunk.model { served = model }
            if let choice = chunk.choices?.first {
                if let piece = choice.delta?.content, !piece.isEmpty {
                    text += piece
                    onDelta(piece)
                }
                if let reason = choice.finishReason { finish = reason }
            }
            if let reported = chunk.usage {
                usage = TokenUsage(inputTokens: reported.promptTokens ?? 0, outputTokens: reported.completionTokens ?? 0)
            }
        }
        // Some servers (llama-cpp-python among them) ignore `include_usage` when streaming: estimate then,
        // and say so, rather than count nothing.
        return ModelResponse(text: text, finishReason: FinishReason(wireValue: finish),
                             usage: usage ?? .estimate(request: request, reply: text), model: served)
    }

    private func httpRequest(_ request: ModelRequest, stream: Bool) throws -> HTTPClientRequest {
        var body: [String: any Sendable] = [
            "model": name,
            "messages": request.messages.map { ["role": $0.role.rawValue, "content": $0.content] },
        ]
        if let maxTokens = request.maxOutputTokens { body["max_tokens"] = maxTokens }
        if let temperature = request.temperature { body["temperature"] = temperature }
        if stream {
            body["stream"] = true
            body["stream_options"] = ["include_usage": true]
        }
        var http = HTTPClientRequest(url: baseURL + "/chat/completions")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { http.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        http.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        return http
    }

    static func decodeCompletion(_ data: Data, fallbackModel: String, endpoint: String) throws -> ModelResponse {
        let completion: ChatCompletion
        do {
            completion = try JSONDecoder().decode(ChatCompletion.self, from: data)
        } catch {
            let sample = String(decoding: data.prefix(200), as: UTF8.self)
            throw ModelError.malformedResponse(endpoint: endpoint, detail: "could not decode: \(sample)")
        }
        guard let choice = completion.choices?.first else {
            if let message = completion.error?.message {
                throw ModelError.serverError(endpoint: endpoint, status: 200, detail: message)
            }
            throw ModelError.malformedResponse(endpoint: endpoint, detail: "no choices in the reply")
        }
        let usage = TokenUsage(inputTokens: completion.usage?.promptTokens ?? 0,
                               outputTokens: completion.usage?.completionTokens ?? 0)
        return ModelResponse(text: choice.message?.content ?? "",
                             finishReason: FinishReason(wireValue: choice.finishReason),
                             usage: usage, model: completion.model ?? fallbackModel)
    }

    static func error(status: Int, body: Data, model: String, endpoint: String, apiKey: String?) -> ModelError {
        let detail = serverMessage(body).redacting(apiKey)
        switch status {
        case 401, 403:
            return .unauthorized(endpoint: endpoint, status: status, detail: detail)
        case 404:
            return .modelNotFound(model: model, endpoint: endpoint, detail: detail)
        case 400..<500:
            // Several servers answer an unknown model with 400 and a message saying so.
            let lowered = detail.lowercased()
            if lowered.contains("model") && (lowered.contains("not found") || lowered.contains("does not exist")
                                             || lowered.contains("unknown")) {
                return .modelNotFound(model: model, endpoint: endpoint, detail: detail)
            }
            return .badRequest(endpoint: endpoint, status: status, detail: detail)
        default:
            return .serverError(endpoint: endpoint, status: status, detail: detail)
        }
    }

    /// The human-readable part of an error body: `error.message` when present, else the start of the text.
    static func serverMessage(_ body: Data) -> String {
        struct Envelope: Decodable {
            struct Inner: Decodable { let message: String? }
            let error: Inner?
            let message: String?
            let detail: String?
        }
        if let envelope = try? JSONDecoder().decode(Envelope.self, from: body),
           let message = envelope.error?.message ?? envelope.message ?? envelope.detail {
            return message
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "empty body" : text
    }

    /// Names of the models the server lists at `GET /models`.
    public static func listModels(baseURL: String, apiKey: String?, timeout: Duration = .seconds(10)) async throws -> [String] {
        let base = normalizedBaseURL(baseURL)
        var http = HTTPClientRequest(url: base + "/models")
        if let apiKey, !apiKey.isEmpty { http.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        let (status, data) = try await HTTPTransport.send(http, endpoint: base, timeout: timeout, retry: .none)
        guard (200..<300).contains(status) else {
            throw error(status: status, body: data, model: "(listing models)", endpoint: base, apiKey: apiKey)
        }
        struct ModelList: Decodable {
            struct Entry: Decodable { let id: String }
            let data: [Entry]
        }
        guard let list = try? JSONDecoder().decode(ModelList.self, from: data) else {
            throw ModelError.malformedResponse(endpoint: base, detail: "GET /models did not return an OpenAI model list")
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
    struct Usage: Decodable {
        let promptTokens: Int?
        let completionTokens: Int?
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }
    }
    struct ErrorBody: Decodable { let message: String? }
    let model: String?
    let choices: [Choice]?
    let usage: Usage?
    let error: ErrorBody?
}
