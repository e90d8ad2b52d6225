import Foundation

/// An error as a server put it in a body: OpenAI's `{"error":{"message","type","code"}}` (llama.cpp, vLLM, Ollama
/// and LiteLLM copy it), Anthropic's `{"type":"error","error":{"type","message"}}`, Ollama's native `{"error":"…"}`,
/// vLLM's older top-level `{"object":"error","message",…}`.
struct ServerErrorReply: Sendable, Equatable {
    var message: String
    /// `error.code` when it is a string (OpenAI's `context_length_exceeded`), else `error.type`
    /// (llama.cpp's `exceed_context_size_error`, Anthropic's `invalid_request_error`).
    var code: String?
    /// `error.type` alone (Anthropic's `authentication_error`, `not_found_error`, `overloaded_error`…).
    var type: String?

    /// The error `body` carries, or nil when it is not an error envelope.
    static func parse(_ body: Data) -> ServerErrorReply? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        if let inner = object["error"] as? [String: Any] {
            let type = meaningful(inner["type"])
            let message = inner["message"] as? String ?? type ?? String(decoding: body.prefix(300), as: UTF8.self)
            return ServerErrorReply(message: message, code: meaningful(inner["code"]) ?? type, type: type)
        }
        if let message = object["error"] as? String {
            return ServerErrorReply(message: message, code: nil, type: nil)
        }
        if object["object"] as? String == "error" || object["type"] as? String == "error",
           let message = object["message"] as? String {
            let type = object["type"] as? String == "error" ? nil : meaningful(object["type"])
            return ServerErrorReply(message: message, code: meaningful(object["code"]) ?? type, type: type)
        }
        return nil
    }

    /// A code or type worth keeping: a word, not a repeated status ("400") or a proxy's "None".
    private static func meaningful(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty, text != "None", text != "null",
              !text.allSatisfy(\.isNumber) else { return nil }
        return text
    }

    /// What a failure body says: its error message, a framework's `message`/`detail`, or the start of its text.
    static func detail(of body: Data) -> String {
        if let reply = parse(body) { return reply.message }
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
           let text = object["message"] as? String ?? object["detail"] as? String {
            return text
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "empty body" : text
    }
}

extension ModelError {
    /// The error for a failure status, or for an error envelope inside a 2xx reply or a stream event.
    static func fromServer(status: Int, body: Data, model: String, endpoint: String, apiKey: String?,
                           provider: ModelProvider) -> ModelError {
        let reply = ServerErrorReply.parse(body)
        let detail = (reply?.message ?? ServerErrorReply.detail(of: body)).redacting(apiKey)
        let code = reply?.code
        let type = reply?.type?.lowercased() ?? ""
        let lowered = detail.lowercased()
        // Several servers answer an unknown model with 400 (or a 404 that is about the model, not the route).
        let aboutUnknownModel = code == "model_not_found" || lowered.contains("model")
            && (lowered.contains("not found") || lowered.contains("does not exist") || lowered.contains("unknown")
                || lowered.contains("invalid model name"))  // LiteLLM
        switch status {
        case 401, 403:
            return .unauthorized(endpoint: endpoint, status: status, detail: detail, provider: provider)
        case 404:
            guard aboutUnknownModel || lowered.contains("model") else {
                return .badRequest(endpoint: endpoint, status: status, detail: detail, code: code, provider: provider)
            }
            return .modelNotFound(model: model, endpoint: endpoint, detail: detail, provider: provider)
        case 400..<500:
            if aboutUnknownModel { return .modelNotFound(model: model, endpoint: endpoint, detail: detail, provider: provider) }
            return .badRequest(endpoint: endpoint, status: status, detail: detail, code: code, provider: provider)
        case 200..<300:
            // No status to go by: the envelope's type says what kind of failure it is.
            if ["authentication_error", "permission_error"].contains(type) || code == "invalid_api_key" {
                return .unauthorized(endpoint: endpoint, status: status, detail: detail, provider: provider)
            }
            if type == "not_found_error" || code == "model_not_found" {
                return .modelNotFound(model: model, endpoint: endpoint, detail: detail, provider: provider)
            }
            let rejection = ModelError.badRequest(endpoint: endpoint, status: status, detail: detail, code: code,
                                                  provider: provider)
            if ["invalid_request_error", "request_too_large"].contains(type) || rejection.isContextOverflow {
                return rejection
            }
            return .serverError(endpoint: endpoint, status: status, detail: detail, code: code, provider: provider)
        default:
            return .serverError(endpoint: endpoint, status: status, detail: detail, code: code, provider: provider)
        }
    }
}
