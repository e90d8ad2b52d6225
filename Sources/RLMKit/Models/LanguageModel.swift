import Foundation

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
