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
