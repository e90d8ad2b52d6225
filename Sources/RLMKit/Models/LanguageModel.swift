import Foundation

/// One message of a chat conversation.
public struct ChatMessage: Sendable, Codable, Equatable {
    public enum Role: String, Sendable, Codable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
    public static func system(_ text: String) -> ChatMessage { .init(role: .system, content: text) }
    public static func user(_ text: String) -> ChatMessage { .init(role: .user, content: text) }
    public static func assistant(_ text: String) -> ChatMessage { .init(role: .assistant, content: text) }
}

/// Input and output tokens of one or more model calls.
public struct TokenUsage: Sendable, Codable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int
    /// The server reported no usage, so these counts are estimated from the text (about 4 characters a token).
    public var estimated: Bool?
    public init(inputTokens: Int = 0, outputTokens: Int = 0, estimated: Bool? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.estimated = estimated
    }

    /// An estimate for a server that does not report usage (some do not when streaming).
    public static func estimate(request: ModelRequest, reply: String) -> TokenUsage {
        let input = request.messages.reduce(0) { $0 + $1.content.count } / 4 + 4 * request.messages.count
        return TokenUsage(inputTokens: input, outputTokens: max(1, reply.count / 4), estimated: true)
    }
    public var totalTokens: Int { inputTokens + outputTokens }
    public static func + (lhs: TokenUsage, rhs: TokenUsage) -> TokenUsage {
        .init(inputTokens: lhs.inputTokens + rhs.inputTokens, outputTokens: lhs.outputTokens + rhs.outputTokens)
    }
    enum CodingKeys: String, CodingKey {
        case estimated
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
    }
}

/// Why a model stopped writing.
public enum FinishReason: Sendable, Equatable, Codable {
    /// It finished on its own.
    case stop
    /// It hit the output-token limit, so the text is cut off.
    case length
    /// Anything else the server reported.
    case other(String)

    init(wireValue: String?) {
        switch wireValue {
        case nil, "stop", "end_turn", "stop_sequence": self = .stop
        case "length", "max_tokens": self = .length
        case let value?: self = .other(value)
        }
    }

    public var label: String {
        switch self {
        case .stop: "stop"
        case .length: "length"
        case .other(let value): value
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init(wireValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(label)
    }
}

/// A request to a chat model.
public struct ModelRequest: Sendable {
    public var messages: [ChatMessage]
    /// Cap on the reply's length in tokens; nil leaves it to the server.
    public var maxOutputTokens: Int?
    public var temperature: Double?
    public init(messages: [ChatMessage], maxOutputTokens: Int? = nil, temperature: Double? = nil) {
        self.messages = messages
        self.maxOutputTokens = maxOutputTokens
        self.temperature = temperature
    }
}

/// A chat model's reply with the tokens it cost.
public struct ModelResponse: Sendable {
    public var text: String
    public var finishReason: FinishReason
    public var usage: TokenUsage
    /// The model name as the server reported it.
    public var model: String
    public init(text: String, finishReason: FinishReason = .stop, usage: TokenUsage = .init(), model: String) {
        self.text = text
        self.finishReason = finishReason
        self.usage = usage
        self.model = model
    }
}

/// Anything that answers chat requests: a provider client, or a scripted model in tests.
public protocol LanguageModel: Sendable {
    /// The model's name, used for accounting and logs.
    var name: String { get }
    /// Where it is served, for logs and error messages (never carries a key).
    var endpointDescription: String { get }
    func complete(_ request: ModelRequest) async throws -> ModelResponse
    /// The same request, streamed: `onDelta` gets the reply's text as it arrives; the result is the whole reply.
    func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse
    /// The same provider and endpoint with another model name (for `llm_query(..., model=...)`).
    func withModelName(_ name: String) -> any LanguageModel
    /// The context window the server says this model runs with (llama.cpp, Ollama, vLLM and LM Studio tell);
    /// nil when the server does not say. Asked once at the start of a run.
    func discoverContextWindow() async -> DiscoveredContextWindow?
}

/// A model's context window as its server reported it.
public struct DiscoveredContextWindow: Sendable, Equatable {
    /// Tokens the model can hold, prompt and reply together.
    public var tokens: Int
    /// Where the figure came from, for the user (for example "llama.cpp GET /props n_ctx").
    public var source: String
    public init(tokens: Int, source: String) {
        self.tokens = tokens
        self.source = source
    }
}

extension LanguageModel {
    /// Models that cannot stream deliver the whole reply as one delta.
    public func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        let response = try await complete(request)
        onDelta(response.text)
        return response
    }

    public var endpointDescription: String { "local" }
    public func withModelName(_ name: String) -> any LanguageModel { self }
    public func discoverContextWindow() async -> DiscoveredContextWindow? { nil }
}
