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
