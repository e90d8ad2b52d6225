import Foundation
import ModelSimulator
@testable import RLMKit
import Synchronization
import Testing

/// A server that sends the head and part of a reply, then nothing more while keeping the connection open: the
/// request timeout covers the whole reply (AsyncHTTPClient's own deadline ends with the head), a stream also has
/// an idle limit between pieces, and a stall is retried like a timeout. Each test has a time limit, so a client
/// that waits for ever fails instead of stalling the run.
@Suite(.timeLimit(.minutes(1))) struct StalledServerTests {
    static let quickRetry = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10))

    static func model(_ provider: ModelProvider, _ server: ModelSimulator, requestTimeout: Duration,
                      streamIdleTimeout: Duration = .seconds(120), retry: RetryPolicy = quickRetry) -> any LanguageModel {
        switch provider {
        case .anthropic:
            AnthropicModel(name: "simulated-model", baseURL: "http://127.0.0.1:\(server.port)",
                           requestTimeout: requestTimeout, streamIdleTimeout: streamIdleTimeout, retry: retry)
        case .openAICompatible:
            OpenAICompatibleModel(name: "simulated-model", baseURL: server.baseURL, requestTimeout: requestTimeout,
                                  streamIdleTimeout: streamIdleTimeout, retry: retry)
        }
    }

    /// The text pieces a streamed request handed to its caller.
    final class Deltas: Sendable {
        private let pieces = Mutex<[String]>([])
        func append(_ piece: String) { pieces.withLock { $0.append(piece) } }
        var joined: String { pieces.withLock { $0.joined() } }
    }

    static func ask(_ model: any LanguageModel, streamed: Bool, deltas: Deltas = Deltas()) async throws -> ModelResponse {
        let request = ModelRequest(messages: [.user("question")])
        guard streamed else { return try await model.complete(request) }
        return try await model.complete(request) { deltas.append($0) }
    }

    @Test("a reply stalled mid-body or mid-stream runs out the request timeout and is retried",
          arguments: [ModelProvider.openAICompatible, .anthropic], [false, true])
    func aStallRunsOutTheRequestTimeout(provider: ModelProvider, streamed: Bool) async throws {
        let server = try await ModelSimulator.start(handler: ModelSimulator.stallingFirst(1) { _ in
            SimulatedReply(text: "the answer after the stall")
        })
        defer { Task { await server.shutdown() } }
        // 6 s: on a machine loaded by the whole suite, opening a loopback connection can take seconds, and the
        // request timeout bounds that too.
        let model = Self.model(provider, server, requestTimeout: .seconds(6))
        let response = try await Self.ask(model, streamed: streamed)
        #expect(response.text == "the answer after the stall")
        // The first request stalled; on a loaded machine a later one may run out its time too.
        #expect(server.requestCount >= 2)
    }

    @Test("a stream that goes silent runs out its idle limit long before the request timeout, and is retried",
          arguments: [ModelProvider.openAICompatible, .anthropic])
    func aSilentStreamRunsOutItsIdleLimit(provider: ModelProvider) async throws {
        let server = try await ModelSimulator.start(handler: ModelSimulator.stallingFirst(1) { _ in
            SimulatedReply(text: "streamed after the stall")
        })
        defer { Task { await server.shutdown() } }
        let model = Self.model(provider, server, requestTimeout: .seconds(600), streamIdleTimeout: .seconds(1))
        let deltas = Deltas()
        let response = try await Self.ask(model, streamed: true, deltas: deltas)
        #expect(response.text == "streamed after the stall")
        // Only the retried stream's text reached the caller: the stalled one had sent none.
        #expect(deltas.joined == "streamed after the stall")
        #expect(server.requestCount >= 2)
    }

    @Test("a stream that takes longer than its idle limit, each piece within it, is not cut off")
    func aSlowButLiveStreamArrivesWhole() async throws {
        // Eight events 0.4 s apart: 2.8 s in all, against an idle limit of 2 s.
        let server = try await ModelSimulator.start { _ in
            SimulatedReply(text: "one two three four five six").pacingEvents(every: .milliseconds(400))
        }
        defer { Task { await server.shutdown() } }
        let model = Self.model(.openAICompatible, server, requestTimeout: .seconds(30),
                               streamIdleTimeout: .seconds(2), retry: .none)
        let response = try await Self.ask(model, streamed: true)
        #expect(response.text == "one two three four five six")
        #expect(server.requestCount == 1)
    }

    @Test("when every attempt stalls, the error names the cause and the flag",
          arguments: [ModelProvider.openAICompatible, .anthropic])
    func theFinalErrorNamesTheFlag(provider: ModelProvider) async throws {
        let server = try await ModelSimulator.start { _ in SimulatedReply(text: "never whole").stalling() }
        defer { Task { await server.shutdown() } }
        let whole = Self.model(provider, server, requestTimeout: .seconds(6),
                               retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10)))
        let timedOut = await #expect(throws: ModelError.self) { try await Self.ask(whole, streamed: false) }
        guard case .timedOut? = timedOut else { Issue.record("expected a timeout, got \(String(describing: timedOut))"); return }
        #expect("\(timedOut!)".contains("--request-timeout"))
        #expect("\(timedOut!)".contains(provider.apiName))
        #expect(server.requestCount == 2, "every attempt of the retry policy was made")

        server.resetCounters()
        let streaming = Self.model(provider, server, requestTimeout: .seconds(600), streamIdleTimeout: .milliseconds(300),
                                   retry: .none)
        let stalled = await #expect(throws: ModelError.self) { try await Self.ask(streaming, streamed: true) }
        guard case .streamStalled? = stalled else { Issue.record("expected a stall, got \(String(describing: stalled))"); return }
        #expect("\(stalled!)".contains("--stream-idle-timeout"))
        #expect(server.requestCount == 1)
    }

    @Test("a stream that stalls after text reached the caller fails with the stall, and is not sent again")
    func aStallAfterTextIsFinal() async throws {
        // The opening chunk and two pieces of text, then silence.
        let server = try await ModelSimulator.start { _ in SimulatedReply(text: "one two three four five").stalling(afterEvents: 3) }
        defer { Task { await server.shutdown() } }
        let model = Self.model(.openAICompatible, server, requestTimeout: .seconds(600), streamIdleTimeout: .milliseconds(300))
        let deltas = Deltas()
        let error = await #expect(throws: ModelError.self) { try await Self.ask(model, streamed: true, deltas: deltas) }
        guard case .streamStalled? = error else { Issue.record("expected a stall, got \(String(describing: error))"); return }
        #expect(!deltas.joined.isEmpty)
        #expect(server.requestCount == 1)
    }
}
