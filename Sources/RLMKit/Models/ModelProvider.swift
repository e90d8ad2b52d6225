/// The wire protocol a model client speaks, so that every error names the API actually in use.
public enum ModelProvider: String, Sendable, Equatable, CaseIterable {
    /// OpenAI's Chat Completions API, or any server that copies it (llama.cpp, Ollama, vLLM, LM Studio, LiteLLM…).
    case openAICompatible = "openai"
    /// Anthropic's Messages API, or a proxy speaking it.
    case anthropic

    /// The API as error messages name it.
    var apiName: String {
        switch self {
        case .openAICompatible: "OpenAI-compatible API"
        case .anthropic: "Anthropic Messages API"
        }
    }

    /// What a good reply looks like, for "sent a reply that is not …".
    var replyName: String {
        switch self {
        case .openAICompatible: "an OpenAI-style chat completion"
        case .anthropic: "an Anthropic Messages reply"
        }
    }

    /// How the base URL of this API is formed.
    var baseURLHint: String {
        switch self {
        case .openAICompatible: "an OpenAI-compatible API usually ends in /v1, e.g. http://127.0.0.1:8080/v1"
        case .anthropic: "Anthropic's API root has no /v1, e.g. https://api.anthropic.com"
        }
    }

    /// The variables a key is read from.
    var keyVariables: String {
        switch self {
        case .openAICompatible: "RLM_API_KEY (or OPENAI_API_KEY)"
        case .anthropic: "RLM_API_KEY (or ANTHROPIC_API_KEY)"
        }
    }
}
