import Foundation
import RLMTesting
@testable import RLMKit
import Testing

/// Errors as real servers send them, through the real clients: which provider they name, the server's own text,
/// error envelopes inside HTTP 200 replies and streams, context overflow, and replies without usage.
@Suite struct ProviderErrorTests {
    let request = ModelRequest(messages: [.system("Be brief."), .user("Hello")])

    func anthropic(_ server: ModelSimulator) -> AnthropicModel {
        AnthropicModel(name: "claude-test", baseURL: "http://127.0.0.1:\(server.port)", apiKey: "sk-ant-test", retry: .none)
    }

    func openAI(_ server: ModelSimulator) -> OpenAICompatibleModel {
        OpenAICompatibleModel(name: "m", baseURL: server.baseURL, retry: .none)
    }

    /// The error `body` throws, or nil when it throws none (or something else).
    func modelError(_ body: () async throws -> ModelResponse) async -> ModelError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error as? ModelError
        }
    }

    // MARK: Errors name the provider in use

    @Test func anthropicErrorsNameTheMessagesAPINotOpenAI() async throws {
        let server = try await ModelSimulator.start { request in
            request.lastUserText == "html" ? .raw("<html>proxy login page</html>")
                                           : .raw(#"{"type":"error","error":{"type":"invalid_request_error","message":"temperature: must be at most 1"}}"#, status: 400)
        }
        defer { Task { await server.shutdown() } }
        let malformed = try #require(await modelError { try await anthropic(server).complete(ModelRequest(messages: [.user("html")])) })
        #expect(malformed.description.contains("Anthropic"))
        #expect(!malformed.description.contains("OpenAI"))
        let rejected = try #require(await modelError { try await anthropic(server).complete(request) })
        #expect(rejected.description.contains("Anthropic"))
        #expect(rejected.description.contains("temperature: must be at most 1"))
        #expect(!rejected.description.contains("OpenAI"))
        let unreachable = try #require(await modelError {
            try await AnthropicModel(name: "claude-test", baseURL: "http://127.0.0.1:9", retry: .none).complete(request)
        })
        #expect(unreachable.description.contains("Anthropic"))
        #expect(!unreachable.description.contains("OpenAI"))
    }

    @Test func anthropicFailureStatusesKeepTheirTypeAndText() async throws {
        let server = try await ModelSimulator.start { request in
            request.lastUserText == "busy" ? .failure(status: 529, message: "Overloaded")
                                           : .failure(status: 401, message: "invalid x-api-key")
        }
        defer { Task { await server.shutdown() } }
        let refused = try #require(await modelError { try await anthropic(server).complete(request) })
        guard case .unauthorized = refused else {
            Issue.record("expected unauthorized, got \(refused)")
            return
        }
        #expect(refused.description.contains("invalid x-api-key"))
        #expect(refused.description.contains("ANTHROPIC_API_KEY"))
        #expect(refused.isConfigurationProblem)
        let busy = try #require(await modelError { try await anthropic(server).complete(ModelRequest(messages: [.user("busy")])) })
        #expect(busy.serverCode == "overloaded_error")
        #expect(busy.description.contains("HTTP 529, overloaded_error: Overloaded"))
    }

    @Test func openAIErrorsNameTheOpenAICompatibleAPI() async throws {
        let server = try await ModelSimulator.start { _ in .raw("<html>proxy login page</html>") }
        defer { Task { await server.shutdown() } }
        let malformed = try #require(await modelError { try await openAI(server).complete(request) })
        #expect(malformed.description.contains("OpenAI-compatible"))
        #expect(!malformed.description.contains("Anthropic"))
    }

    // MARK: Error envelopes inside HTTP 200

    @Test func anthropicErrorEnvelopeInA200IsTheServersError() async throws {
        let server = try await ModelSimulator.start { request in
            request.lastUserText == "long"
                ? .raw(#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}"#)
                : .raw(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011"}"#)
        }
        defer { Task { await server.shutdown() } }
        let overloaded = try #require(await modelError { try await anthropic(server).complete(request) })
        if case .malformedResponse = overloaded { Issue.record("an error envelope read as a malformed reply: \(overloaded)") }
        #expect(overloaded.description.contains("Overloaded"))
        #expect(overloaded.description.contains("Anthropic"))
        let overflow = try #require(await modelError { try await anthropic(server).complete(ModelRequest(messages: [.user("long")])) })
        #expect(overflow.isContextOverflow)
    }

    @Test func anthropicErrorEventInAStreamIsTheServersError() async throws {
        let server = try await ModelSimulator.start { _ in
            .rawStream([
                #"event: message_start"# + "\n" + #"data: {"type":"message_start","message":{"id":"msg_1","model":"claude-test","content":[],"usage":{"input_tokens":9,"output_tokens":1}}}"#,
                #"event: error"# + "\n" + #"data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ])
        }
        defer { Task { await server.shutdown() } }
        let error = try #require(await modelError { try await anthropic(server).complete(request) { _ in } })
        #expect(error.description.contains("Overloaded"))
        #expect(error.description.contains("Anthropic"))
    }

    @Test func aJSONErrorAnsweringAStreamedRequestIsNotAnEmptyReply() async throws {
        let server = try await ModelSimulator.start { request in
            request.isAnthropic ? .raw(#"{"type":"error","error":{"type":"api_error","message":"upstream model crashed"}}"#)
                                : .raw(#"{"error":{"message":"upstream model crashed","type":"server_error"}}"#)
        }
        defer { Task { await server.shutdown() } }
        let anthropicError = try #require(await modelError { try await anthropic(server).complete(request) { _ in } })
        #expect(anthropicError.description.contains("upstream model crashed"))
        let openAIError = try #require(await modelError { try await openAI(server).complete(request) { _ in } })
        #expect(openAIError.description.contains("upstream model crashed"))
    }

    @Test func anOpenAIStyleErrorChunkInAStreamIsTheServersError() async throws {
        let server = try await ModelSimulator.start { _ in
            .rawStream([
                #"data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"par"}}]}"#,
                #"data: {"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
            ])
        }
        defer { Task { await server.shutdown() } }
        let error = try #require(await modelError { try await openAI(server).complete(request) { _ in } })
        #expect(error.isContextOverflow)
        #expect(error.serverCode == "exceed_context_size_error")
        #expect(error.description.contains("the request exceeds the available context size"))
        #expect(error.description.contains("OpenAI-compatible"))
    }

    // MARK: Context overflow, as each server words it

    static let overflowBodies: [(server: String, status: Int, body: String)] = [
        ("llama.cpp", 400, #"{"error":{"code":400,"message":"request (13392 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":13392,"n_ctx":8192}}"#),
        ("llama.cpp (older)", 400, #"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"invalid_request_error"}}"#),
        ("vLLM", 400, #"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}"#),
        ("vLLM (decoder prompt)", 400, #"{"error":{"message":"The decoder prompt (length 8825) is longer than the maximum model length of 8192. Make sure that `max_model_len` is no smaller than the number of text tokens.","type":"BadRequestError","param":null,"code":400}}"#),
        ("OpenAI", 400, #"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#),
        ("Ollama", 400, #"{"error":{"message":"the input length exceeds the context length","type":"api_error","param":null,"code":null}}"#),
        ("Ollama (older)", 500, #"{"error":{"message":"the input length exceeds the context length","type":"api_error","param":null,"code":null}}"#),
    ]

    @Test(arguments: overflowBodies.indices)
    func contextOverflowIsRecognised(index: Int) async throws {
        let sample = Self.overflowBodies[index]
        let server = try await ModelSimulator.start { _ in .raw(sample.body, status: sample.status) }
        defer { Task { await server.shutdown() } }
        let error = try #require(await modelError { try await openAI(server).complete(request) })
        #expect(error.isContextOverflow, "\(sample.server): \(error)")
    }

    @Test func anthropicContextOverflowIsRecognised() async throws {
        let server = try await ModelSimulator.start { _ in
            .raw(#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"},"request_id":"req_1"}"#, status: 400)
        }
        defer { Task { await server.shutdown() } }
        let error = try #require(await modelError { try await anthropic(server).complete(request) })
        #expect(error.isContextOverflow)
        #expect(error.description.contains("prompt is too long: 215000 tokens > 200000 maximum"))
    }

    @Test func otherRejectionsAreNotContextOverflow() async throws {
        let server = try await ModelSimulator.start { _ in
            .raw(#"{"error":{"message":"temperature must be between 0 and 2","type":"invalid_request_error","param":"temperature","code":null}}"#, status: 400)
        }
        defer { Task { await server.shutdown() } }
        let error = try #require(await modelError { try await openAI(server).complete(request) })
        #expect(!error.isContextOverflow)
    }

    // MARK: Replies without usage

    @Test func repliesWithoutUsageAreEstimatedAndMarked() async throws {
        let server = try await ModelSimulator.start { _ in .withoutUsage("a reply of some length, long enough to count") }
        defer { Task { await server.shutdown() } }
        let replies = [
            try await openAI(server).complete(request),
            try await openAI(server).complete(request) { _ in },
            try await anthropic(server).complete(request),
            try await anthropic(server).complete(request) { _ in },
        ]
        for reply in replies {
            #expect(reply.text == "a reply of some length, long enough to count")
            #expect(reply.usage.estimated == true)
            #expect(reply.usage.inputTokens > 0)
            #expect(reply.usage.outputTokens > 0)
        }
    }

    @Test func repliesWithUsageAreNotMarkedEstimated() async throws {
        let server = try await ModelSimulator.start { _ in SimulatedReply(text: "ok", promptTokens: 12, completionTokens: 3) }
        defer { Task { await server.shutdown() } }
        for reply in [try await openAI(server).complete(request), try await anthropic(server).complete(request)] {
            #expect(reply.usage == TokenUsage(inputTokens: 12, outputTokens: 3))
        }
    }
}
