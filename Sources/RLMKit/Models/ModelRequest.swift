/// A request to a chat model.
public struct ModelRequest: Sendable {
    public var messages: [ChatMessage]
    /// Cap on the reply's length in tokens; nil leaves it to the server.
    public var maxOutputTokens: Int?
    public var temperature: Double?
    /// Names a conversation that grows by appending (an RLM's root turns), whose repeated prefix is worth caching:
    /// sent as `prompt_cache_key` to OpenAI's own API, and the reason Anthropic's Messages API gets cache
    /// breakpoints. Nil for one-off prompts (sub-calls), where a cache write would only cost more.
    public var promptCacheKey: String?
    public init(messages: [ChatMessage], maxOutputTokens: Int? = nil, temperature: Double? = nil,
                promptCacheKey: String? = nil) {
        self.messages = messages
        self.maxOutputTokens = maxOutputTokens
        self.temperature = temperature
        self.promptCacheKey = promptCacheKey
    }

    /// This request with its reply capped at `cap` tokens (a budget's), or as it is when `cap` is nil.
    func cappedAt(_ cap: Int?) -> ModelRequest {
        guard let cap else { return self }
        var capped = self
        capped.maxOutputTokens = min(cap, maxOutputTokens ?? .max)
        return capped
    }
}
