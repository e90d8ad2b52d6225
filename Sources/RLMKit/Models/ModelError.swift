/// A failure talking to a model server. Each case says what went wrong and what to do about it, names the API in
/// use (`provider`; nil where the client is not known, e.g. a scripted model) and carries the server's own text.
public enum ModelError: Error, Sendable, CustomStringConvertible {
    case unreachable(endpoint: String, reason: String, provider: ModelProvider? = nil)
    case unauthorized(endpoint: String, status: Int, detail: String, provider: ModelProvider? = nil)
    case modelNotFound(model: String, endpoint: String, detail: String, provider: ModelProvider? = nil)
    /// The server refused the request (4xx). `code` is the body's `error.code` or `error.type` when it has one.
    case badRequest(endpoint: String, status: Int, detail: String, code: String? = nil, provider: ModelProvider? = nil)
    /// The server failed (5xx), or reported an error inside a 200 reply or a stream (`status` 200).
    case serverError(endpoint: String, status: Int, detail: String, code: String? = nil, provider: ModelProvider? = nil)
    case malformedResponse(endpoint: String, detail: String, provider: ModelProvider? = nil)
    /// The whole reply, head and body (or stream), did not arrive within the request timeout.
    case timedOut(endpoint: String, seconds: Double, provider: ModelProvider? = nil)
    /// A streamed reply sent nothing for `seconds` (the stream's idle limit) before it ended.
    case streamStalled(endpoint: String, seconds: Double, provider: ModelProvider? = nil)

    /// The API the failing client spoke, when known.
    public var provider: ModelProvider? {
        switch self {
        case .unreachable(_, _, let provider), .unauthorized(_, _, _, let provider), .modelNotFound(_, _, _, let provider),
             .badRequest(_, _, _, _, let provider), .serverError(_, _, _, _, let provider),
             .malformedResponse(_, _, let provider), .timedOut(_, _, let provider), .streamStalled(_, _, let provider):
            provider
        }
    }

    /// The server's error code or type (`context_length_exceeded`, `exceed_context_size_error`…), when it sent one.
    public var serverCode: String? {
        switch self {
        case .badRequest(_, _, _, let code, _), .serverError(_, _, _, let code, _): code
        default: nil
        }
    }

    /// The same error naming `provider`, unless it already names one (the transport does not know the API).
    public func attributed(to provider: ModelProvider) -> ModelError {
        guard self.provider == nil else { return self }
        switch self {
        case let .unreachable(endpoint, reason, _):
            return .unreachable(endpoint: endpoint, reason: reason, provider: provider)
        case let .unauthorized(endpoint, status, detail, _):
            return .unauthorized(endpoint: endpoint, status: status, detail: detail, provider: provider)
        case let .modelNotFound(model, endpoint, detail, _):
            return .modelNotFound(model: model, endpoint: endpoint, detail: detail, provider: provider)
        case let .badRequest(endpoint, status, detail, code, _):
            return .badRequest(endpoint: endpoint, status: status, detail: detail, code: code, provider: provider)
        case let .serverError(endpoint, status, detail, code, _):
            return .serverError(endpoint: endpoint, status: status, detail: detail, code: code, provider: provider)
        case let .malformedResponse(endpoint, detail, _):
            return .malformedResponse(endpoint: endpoint, detail: detail, provider: provider)
        case let .timedOut(endpoint, seconds, _):
            return .timedOut(endpoint: endpoint, seconds: seconds, provider: provider)
        case let .streamStalled(endpoint, seconds, _):
            return .streamStalled(endpoint: endpoint, seconds: seconds, provider: provider)
        }
    }

    public var description: String {
        // Every message starts "the model server at <endpoint>", then names the API the client spoke.
        let api = provider.map { " (\($0.apiName))" } ?? ""
        let urlHint = provider?.baseURLHint
            ?? "an OpenAI-compatible API usually ends in /v1; Anthropic's API root has none"
        switch self {
        case let .unreachable(endpoint, reason, _):
            let cause = provider.map { "\($0.apiName): \(reason)" } ?? reason
            return "cannot reach the model server at \(endpoint) (\(cause)). Check that the server is running and that --base-url / RLM_BASE_URL is right (\(urlHint))."
        case let .unauthorized(endpoint, status, detail, provider):
            let variables = provider?.keyVariables ?? "RLM_API_KEY (or OPENAI_API_KEY / ANTHROPIC_API_KEY)"
            return "the model server at \(endpoint)\(api) refused the API key (\(Self.origin(status, nil)): \(detail)). Set a valid key in \(variables), or name the variable that holds it with --api-key-env."
        case let .modelNotFound(model, endpoint, detail, _):
            return "the model server at \(endpoint)\(api) has no model named '\(model)' (\(detail)). Pass a model it serves with --model or RLM_MODEL (its GET /v1/models lists them)."
        case let .badRequest(endpoint, status, detail, code, _):
            var text = "the model server at \(endpoint)\(api) rejected the request (\(Self.origin(status, code)): \(detail))."
            if isContextOverflow { text += Self.overflowAdvice }
            if status == 404 { text += " Check --base-url: \(urlHint)." }
            return text
        case let .serverError(endpoint, status, detail, code, _):
            var text = "the model server at \(endpoint)\(api) failed (\(Self.origin(status, code)): \(detail))."
            text += isContextOverflow ? Self.overflowAdvice : " Try again later or check the server's log."
            return text
        case let .malformedResponse(endpoint, detail, provider):
            guard let provider else {
                return "the model server at \(endpoint) sent a reply that could not be read (\(detail)). Check that --base-url and --provider match the server."
            }
            return "the model server at \(endpoint)\(api) sent a reply that is not \(provider.replyName) (\(detail)). Check --base-url and --provider: \(urlHint)."
        case let .timedOut(endpoint, seconds, _):
            return "the model server at \(endpoint)\(api) did not send its whole reply within \(Self.seconds(seconds)) (the request timeout; a reply that stops midway counts too). The model may be overloaded or the server stalled; try again, or raise --request-timeout for replies that take longer."
        case let .streamStalled(endpoint, seconds, _):
            return "the model server at \(endpoint)\(api) sent nothing for \(Self.seconds(seconds)) in the middle of a streamed reply (the stream's idle limit). The server may have stalled; try again, or raise --stream-idle-timeout for a model that pauses longer."
        }
    }

    /// "5 s", "0.5 s".
    private static func seconds(_ value: Double) -> String {
        value >= 1 && value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }

    /// "HTTP 400, context_length_exceeded", or where a 200 reply carried the error.
    private static func origin(_ status: Int, _ code: String?) -> String {
        let head = (200..<300).contains(status) ? "an error inside an HTTP \(status) reply" : "HTTP \(status)"
        return code.map { "\(head), \($0)" } ?? head
    }

    private static let overflowAdvice = " The conversation does not fit the model's context window: use a model with a larger window, raise the server's context size (llama.cpp -c, Ollama num_ctx, vLLM --max-model-len), or give --model-window so older turns are summarised sooner."

    /// Error codes and types servers use for a prompt longer than the context window.
    static let overflowCodes: Set<String> = ["context_length_exceeded", "exceed_context_size_error"]
    /// The wording of the same refusal, for servers that send no such code.
    static let overflowPhrases = [
        "exceeds the available context size",       // llama.cpp
        "maximum context length",                   // OpenAI, vLLM
        "longer than the maximum model length",     // vLLM (decoder prompt)
        "prompt is too long",                       // Anthropic
        "input length exceeds the context length",  // Ollama
        "exceeds the context window",               // OpenAI (newer wording)
        "context_length_exceeded",
    ]

    /// The server refused the request because the prompt does not fit the model's context window: llama.cpp,
    /// vLLM, OpenAI and Anthropic answer 400, Ollama 400 or (older versions) 500, each with its own code or text.
    public var isContextOverflow: Bool {
        let detail: String
        let code: String?
        switch self {
        case .badRequest(_, _, let text, let serverCode, _), .serverError(_, _, let text, let serverCode, _):
            (detail, code) = (text, serverCode)
        default:
            return false
        }
        if let code, Self.overflowCodes.contains(code.lowercased()) { return true }
        let text = detail.lowercased()
        return Self.overflowPhrases.contains { text.contains($0) }
    }

    /// True for failures the user must fix in the configuration (exit code 2), not transient ones: a refused key,
    /// an unknown model, or a URL with no such route (404).
    public var isConfigurationProblem: Bool {
        switch self {
        case .unauthorized, .modelNotFound: true
        case .badRequest(_, let status, _, _, _): status == 404
        default: false
        }
    }
}

/// Runs `body`, naming `provider` in any ``ModelError`` it throws.
func attributingErrors<T>(to provider: ModelProvider, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ModelError {
        throw error.attributed(to: provider)
    }
}
