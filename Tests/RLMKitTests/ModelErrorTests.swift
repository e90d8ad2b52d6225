import Foundation
@testable import RLMKit
import Testing

/// How error bodies become ``ModelError``s: the server's text and code kept, the provider named, the kind of failure
/// read from the status or, inside a 200 reply, from the envelope's type.
@Suite struct ModelErrorTests {
    func error(_ status: Int, _ body: String, provider: ModelProvider = .openAICompatible, apiKey: String? = nil) -> ModelError {
        .fromServer(status: status, body: Data(body.utf8), model: "m", endpoint: "http://127.0.0.1:8080/v1",
                    apiKey: apiKey, provider: provider)
    }

    @Test func theServersCodeIsKept() {
        let openAI = error(400, #"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#)
        #expect(openAI.serverCode == "context_length_exceeded")
        let llama = error(400, #"{"error":{"code":400,"message":"request (9000 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#)
        #expect(llama.serverCode == "exceed_context_size_error")
        #expect(llama.description.contains("exceed_context_size_error"))
        #expect(llama.description.contains("request (9000 tokens) exceeds the available context size (8192 tokens)"))
    }

    @Test func theCodeAloneMarksAnOverflow() {
        let codeOnly = error(400, #"{"error":{"message":"Request rejected.","type":"invalid_request_error","code":"context_length_exceeded"}}"#)
        #expect(codeOnly.isContextOverflow)
        #expect(codeOnly.description.contains("context window"))
    }

    @Test func ollamasNativeErrorStringIsRead() {
        let ollama = error(500, #"{"error":"the input length exceeds the context length"}"#)
        guard case .serverError(_, 500, let detail, _, _) = ollama else {
            Issue.record("expected a server error, got \(ollama)")
            return
        }
        #expect(detail == "the input length exceeds the context length")
        #expect(ollama.isContextOverflow)
    }

    @Test func anthropicEnvelopesInA200AreReadByType() {
        func kind(_ type: String) -> ModelError {
            error(200, #"{"type":"error","error":{"type":"\#(type)","message":"said by the server"}}"#, provider: .anthropic)
        }
        if case .unauthorized = kind("authentication_error") {} else { Issue.record("authentication_error") }
        if case .unauthorized = kind("permission_error") {} else { Issue.record("permission_error") }
        if case .modelNotFound = kind("not_found_error") {} else { Issue.record("not_found_error") }
        if case .badRequest = kind("invalid_request_error") {} else { Issue.record("invalid_request_error") }
        if case .serverError = kind("overloaded_error") {} else { Issue.record("overloaded_error") }
        if case .serverError = kind("api_error") {} else { Issue.record("api_error") }
        let overloaded = kind("overloaded_error")
        #expect(overloaded.serverCode == "overloaded_error")
        #expect(overloaded.description.contains("said by the server"))
        #expect(overloaded.description.contains("inside an HTTP 200 reply"))
        #expect(overloaded.description.contains("Anthropic"))
    }

    @Test func everyMessageNamesTheProviderInUse() {
        let endpoint = "http://127.0.0.1:4000"
        let errors: [ModelError] = [
            .unreachable(endpoint: endpoint, reason: "connection refused"),
            .unauthorized(endpoint: endpoint, status: 401, detail: "invalid x-api-key"),
            .modelNotFound(model: "claude-x", endpoint: endpoint, detail: "model: claude-x"),
            .badRequest(endpoint: endpoint, status: 400, detail: "bad"),
            .serverError(endpoint: endpoint, status: 500, detail: "boom"),
            .malformedResponse(endpoint: endpoint, detail: "it starts: <html>"),
            .timedOut(endpoint: endpoint, seconds: 600),
            .streamStalled(endpoint: endpoint, seconds: 120),
        ]
        for error in errors {
            let anthropic = error.attributed(to: .anthropic).description
            #expect(anthropic.contains("Anthropic"), "\(anthropic)")
            #expect(!anthropic.contains("OpenAI"), "\(anthropic)")
            let openAI = error.attributed(to: .openAICompatible).description
            #expect(openAI.contains("OpenAI-compatible"), "\(openAI)")
            #expect(!openAI.contains("Anthropic"), "\(openAI)")
        }
        let malformed = ModelError.malformedResponse(endpoint: endpoint, detail: "x").attributed(to: .anthropic)
        #expect(malformed.description.contains("not an Anthropic Messages reply"))
        #expect(malformed.description.contains("Anthropic's API root has no /v1"))
        let unauthorized = ModelError.unauthorized(endpoint: endpoint, status: 401, detail: "x").attributed(to: .anthropic)
        #expect(unauthorized.description.contains("ANTHROPIC_API_KEY"))
    }

    @Test func aProviderAlreadyNamedIsKept() {
        let error = ModelError.badRequest(endpoint: "e", status: 400, detail: "d", provider: .anthropic)
        #expect(error.attributed(to: .openAICompatible).provider == .anthropic)
    }

    @Test func aMissingRouteIsAConfigurationProblemNamingTheBaseURL() {
        let route = error(404, #"{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}"#, provider: .anthropic)
        guard case .badRequest(_, 404, _, _, _) = route else {
            Issue.record("a missing route is not an unknown model: \(route)")
            return
        }
        #expect(route.isConfigurationProblem)
        #expect(route.description.contains("--base-url"))
        let model = error(404, #"{"error":{"message":"The model `m` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#)
        if case .modelNotFound = model {} else { Issue.record("an unknown model: \(model)") }
        let anthropicModel = error(404, #"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#, provider: .anthropic)
        if case .modelNotFound = anthropicModel {} else { Issue.record("an unknown Anthropic model: \(anthropicModel)") }
    }

    @Test func aKeyEchoedByTheServerIsRedacted() {
        let echoed = error(401, #"{"error":{"message":"Incorrect API key provided: sk-secret-123456.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                           apiKey: "sk-secret-123456")
        #expect(!echoed.description.contains("sk-secret-123456"))
        #expect(echoed.description.contains("[redacted]"))
    }

    @Test func aProxysPlaceholderCodesAreNotKept() {
        // LiteLLM fills OpenAI's envelope with the status and "None".
        let proxied = error(400, #"{"error":{"message":"litellm.BadRequestError: prompt is too long: 210000 tokens > 200000 maximum","type":"None","param":"None","code":"400"}}"#,
                            provider: .anthropic)
        #expect(proxied.serverCode == nil)
        #expect(proxied.isContextOverflow)
        #expect(!proxied.description.contains("None"))
        let unknownModel = error(400, #"{"error":{"message":"/chat/completions: Invalid model name passed in model=claude-opus-4-6. Call `/v1/models` to view available models for your key.","type":"None","param":"None","code":"400"}}"#)
        if case .modelNotFound = unknownModel {} else { Issue.record("LiteLLM's unknown model: \(unknownModel)") }
        #expect(unknownModel.isConfigurationProblem)
    }

    @Test func frameworkBodiesAndPlainTextKeepTheirText() {
        #expect(error(422, #"{"detail":"field required: messages"}"#).description.contains("field required: messages"))
        #expect(error(502, "Bad Gateway").description.contains("Bad Gateway"))
        #expect(error(503, "").description.contains("empty body"))
    }
}
