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
