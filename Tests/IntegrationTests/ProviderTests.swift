import Foundation
import RLMTesting
@testable import RLMKit
import Synchronization
import Testing

/// The real OpenAI and Anthropic clients against the local wire simulator: streaming, retries, errors.
@Suite struct ProviderTests {
    final class Pieces: Sendable {
        let list = Mutex<[String]>([])
        func append(_ piece: String) { list.withLock { $0.append(piece) } }
        var all: [String] { list.withLock { $0 } }
    }

    let request = ModelRequest(messages: [.system("Be brief."), .user("Hello")])

    @Test func openAIStreamingDeliversPiecesAndUsage() async throws {
        let server = try await ModelSimulator.start { request in
            SimulatedReply(text: request.stream ? "streamed reply text" : "plain", promptTokens: 11, completionTokens: 5)
        }
        defer { Task { await server.shutdown() } }
        let model = OpenAICompatibleModel(name: "m", baseURL: server.baseURL)
        let pieces = Pieces()
        let response = try await model.complete(request) { pieces.append($0) }
        #expect(response.text == "streamed reply text")
        #expect(pieces.all.count > 1)
        #expect(pieces.all.joined() == response.text)
        #expect(response.usage == TokenUsage(inputTokens: 11, outputTokens: 5))
        #expect(response.finishReason == .stop)
    }

    @Test func anthropicSplitsTheSystemPromptAndSkipsThinking() async throws {
        let seen = Mutex<[SimulatedRequest]>([])
        let server = try await ModelSimulator.start { request in
            seen.withLock { $0.append(request) }
            return SimulatedReply(text: "claude says hi", finishReason: "length", promptTokens: 20, completionTokens: 4)
        }
        defer { Task { await server.shutdown() } }
        let model = AnthropicModel(name: "claude-test", baseURL: "http://127.0.0.1:\(server.port)", apiKey: "sk-ant-test")
        let response = try await model.complete(request)
        #expect(response.text == "claude says hi")
        #expect(response.finishReason == .length)
        #expect(response.usage == TokenUsage(inputTokens: 20, outputTokens: 4))
        let received = try #require(seen.withLock { $0.first })
        #expect(received.isAnthropic)
        #expect(received.systemText == "Be brief.")
        #expect(received.authorization == "sk-ant-test")

        let pieces = Pieces()
        let streamed = try await model.complete(request) { pieces.append($0) }
        #expect(streamed.text == "claude says hi")
        #expect(pieces.all.joined() == "claude says hi")
        #expect(!pieces.all.joined().contains("simulated thoughts"))
        #expect(streamed.usage == TokenUsage(inputTokens: 20, outputTokens: 4))
    }

    @Test func rateLimitsAreRetriedHonouringRetryAfter() async throws {
        let attempts = Mutex(0)
        let server = try await ModelSimulator.start { _ in
            let attempt = attempts.withLock { value -> Int in
                value += 1
                return value
            }
            return attempt == 1 ? .failure(status: 429, message: "slow down", headers: [("Retry-After", "1")])
                                : SimulatedReply(text: "finally")
        }
        defer { Task { await server.shutdown() } }
        let response = try await OpenAICompatibleModel(name: "m", baseURL: server.baseURL).complete(request)
        #expect(response.text == "finally")
        #expect(attempts.withLock { $0 } == 2)
        // The wait asked for is the one taken (checked on the policy, not with a clock).
        #expect(RetryPolicy.standard.delay(attempt: 1, retryAfter: "1") == .seconds(1))
    }

    @Test func aPromptTooLongForTheWindowIsNotRetried() async throws {
        let attempts = Mutex(0)
        let server = try await ModelSimulator.start { _ in
            attempts.withLock { $0 += 1 }
            return .raw(#"{"error":"the input length exceeds the context length"}"#, status: 500)
        }
        defer { Task { await server.shutdown() } }
        let failure = await #expect(throws: ModelError.self) {
            _ = try await OpenAICompatibleModel(name: "m", baseURL: server.baseURL, apiKey: "sk-test-secret-key").complete(request)
        }
        #expect(failure?.isContextOverflow == true)
        #expect(attempts.withLock { $0 } == 1)
        #expect(failure.map { String(describing: $0) }?.contains("sk-test-secret-key") == false)
    }

    @Test func serverErrorsAreRetriedWithBackoff() async throws {
        let attempts = Mutex(0)
        let server = try await ModelSimulator.start { _ in
            let attempt = attempts.withLock { value -> Int in
                value += 1
                return value
            }
            return attempt < 3 ? .failure(status: attempt == 1 ? 500 : 503, message: "busy") : SimulatedReply(text: "third time")
        }
        defer { Task { await server.shutdown() } }
        let retry = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(20))
        let response = try await OpenAICompatibleModel(name: "m", baseURL: server.baseURL, retry: retry).complete(request)
        #expect(response.text == "third time")
        #expect(attempts.withLock { $0 } == 3)
    }

    @Test func authAndMissingModelFailAtOnce() async throws {
        let attempts = Mutex(0)
        let server = try await ModelSimulator.start { request in
            attempts.withLock { $0 += 1 }
            return request.model == "missing" ? .failure(status: 404, message: "model not found")
                                              : .failure(status: 401, message: "invalid key")
        }
        defer { Task { await server.shutdown() } }
        await #expect {
            _ = try await OpenAICompatibleModel(name: "m", baseURL: server.baseURL, apiKey: "k").complete(request)
        } throws: { error in
            guard case ModelError.unauthorized = error else { return false }
            return true
        }
        await #expect {
            _ = try await OpenAICompatibleModel(name: "missing", baseURL: server.baseURL).complete(request)
        } throws: { error in
            guard case ModelError.modelNotFound = error else { return false }
            return true
        }
        #expect(attempts.withLock { $0 } == 2)
    }

    @Test func refusedConnectionsAreRetriedBrieflyThenReported() async throws {
        let retry = RetryPolicy(maxAttempts: 5, maxConnectionAttempts: 3, baseDelay: .milliseconds(20))
        await #expect {
            _ = try await OpenAICompatibleModel(name: "m", baseURL: "http://127.0.0.1:9/v1", retry: retry).complete(request)
        } throws: { error in
            guard case ModelError.unreachable(_, let reason, _) = error else { return false }
            return reason == "connection refused"
        }
    }

    @Test func retryAfterAcceptsSecondsAndDates() {
        #expect(RetryPolicy.parseRetryAfter("3") == .seconds(3))
        let future = Date().addingTimeInterval(5)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let parsed = RetryPolicy.parseRetryAfter(formatter.string(from: future))
        #expect(parsed != nil && parsed! > .seconds(3) && parsed! <= .seconds(6))
    }
}
