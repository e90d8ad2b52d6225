import Foundation
import RLMTesting
@testable import RLMKit
import Synchronization
import Testing

/// Cached prompt tokens: read from both wires, priced at their own rates, and asked for with Anthropic breakpoints.
@Suite struct PromptCacheTests {
    // MARK: Prices

    @Test func cachedInputIsPricedAtThePublishedRates() throws {
        let gpt5 = try #require(PriceTable.builtIn.price(for: "gpt-5-2025-08-07"))
        #expect(gpt5.inputPerMillion == 1.25 && gpt5.cachedInputPerMillion == 0.125)
        // 2,000 plain and 8,000 cached prompt tokens, 1,000 output: (2000 × 1.25 + 8000 × 0.125 + 1000 × 10) / 1e6.
        let openAI = TokenUsage(inputTokens: 10_000, outputTokens: 1_000, cacheReadTokens: 8_000)
        #expect(abs(gpt5.cost(of: openAI) - 0.0135) < 1e-12)

        let sonnet = try #require(PriceTable.builtIn.price(for: "claude-sonnet-4-5"))
        #expect(sonnet.cachedInputPerMillion == 0.3 && sonnet.cacheWritePerMillion == 3.75 && sonnet.oneHourCacheWritePerMillion == 6)
        // 1,000 plain × 3, 6,000 read × 0.30, 2,000 five-minute writes × 3.75, 1,000 one-hour writes × 6.
        let anthropic = TokenUsage(inputTokens: 10_000, cacheReadTokens: 6_000, cacheWriteTokens: 3_000, cacheWriteOneHourTokens: 1_000)
        #expect(abs(sonnet.cost(of: anthropic) - 0.0183) < 1e-12)
        // Without cache prices, cached tokens cost what plain input does, but one-hour writes twice that.
        let plain = ModelPrice(inputPerMillion: 1, outputPerMillion: 0)
        #expect(abs(plain.cost(of: anthropic) - 0.011) < 1e-12)
    }

    @Test func usageWithCacheCountsRoundTripsAndOldLogsDecode() throws {
        let usage = TokenUsage(inputTokens: 10, outputTokens: 2, cacheReadTokens: 4, cacheWriteTokens: 3, cacheWriteOneHourTokens: 1)
        let decoded = try JSONDecoder().decode(TokenUsage.self, from: JSONEncoder().encode(usage))
        #expect(decoded == usage)
        let old = try JSONDecoder().decode(TokenUsage.self, from: Data(#"{"input_tokens":5,"output_tokens":1}"#.utf8))
        #expect(old == TokenUsage(inputTokens: 5, outputTokens: 1))
        let summed = usage + usage
        #expect(summed.cacheReadTokens == 8 && summed.cacheWriteTokens == 6 && summed.cacheWriteOneHourTokens == 2)
    }

    // MARK: Anthropic breakpoints

    @Test func breakpointsGoOnTheSystemPromptAndTheLastTurnAboveTheMinimum() throws {
        let long = String(repeating: "a", count: 4 * 1_100)
        let turns = [["role": "user", "content": "question"], ["role": "assistant", "content": "reply"],
                     ["role": "user", "content": "output"]]
        let marked = AnthropicModel.markingCacheBreakpoints(system: long, turns: turns, ttl: .fiveMinutes, minimumTokens: 1_024)
        let system = try #require(marked.system as? [[String: any Sendable]])
        #expect((system.first?["cache_control"] as? [String: String]) == ["type": "ephemeral"])
        let last = try #require(marked.messages.last?["content"] as? [[String: any Sendable]])
        #expect(last.first?["text"] as? String == "output")
        #expect(last.first?["cache_control"] != nil)
        // The earlier turns stay plain strings: two breakpoints of the API's four.
        #expect(marked.messages.dropLast().allSatisfy { $0["content"] is String })

        let hour = AnthropicModel.markingCacheBreakpoints(system: long, turns: turns, ttl: .oneHour, minimumTokens: 1_024)
        let hourSystem = try #require(hour.system as? [[String: any Sendable]])
        #expect((hourSystem.first?["cache_control"] as? [String: String]) == ["type": "ephemeral", "ttl": "1h"])

        // Below the model's minimum nothing is marked.
        let short = AnthropicModel.markingCacheBreakpoints(system: "brief", turns: turns, ttl: .fiveMinutes, minimumTokens: 1_024)
        #expect(short.system as? String == "brief")
        #expect(short.messages.allSatisfy { $0["content"] is String })
        #expect(AnthropicModel.minimumCacheableTokens(model: "claude-sonnet-4-5-20250929") == 1_024)
        #expect(AnthropicModel.minimumCacheableTokens(model: "claude-3-5-haiku-latest") == 2_048)
        #expect(AnthropicModel.minimumCacheableTokens(model: "claude-haiku-4-5") == 4_096)
    }

    // MARK: Both wires, against the simulated providers' caches

    static let longSystem = String(repeating: "You answer questions about a long input. ", count: 150)

    @Test(arguments: [false, true]) func openAIReportsCachedTokensWholeAndStreamed(stream: Bool) async throws {
        let server = try await ModelSimulator.start(promptCaching: .providers) { _ in SimulatedReply(text: "ok") }
        defer { Task { await server.shutdown() } }
        let model = OpenAICompatibleModel(name: "gpt-5", baseURL: server.baseURL)
        let first = ModelRequest(messages: [.system(Self.longSystem), .user("turn 1")])
        var second = first
        second.messages += [.assistant("ok"), .user("turn 2")]
        let send = { (request: ModelRequest) async throws -> ModelResponse in
            stream ? try await model.complete(request) { _ in } : try await model.complete(request)
        }
        let cold = try await send(first)
        #expect(cold.usage.cacheReadTokens == 0)
        let warm = try await send(second)
        // The first prompt's tokens, rounded down to OpenAI's 128-token steps.
        #expect(warm.usage.cacheReadTokens == cold.usage.inputTokens / 128 * 128)
        #expect(warm.usage.cacheReadTokens >= 1_024)
        #expect(warm.usage.inputTokens > warm.usage.cacheReadTokens)
    }

    @Test(arguments: [false, true]) func anthropicReadsWhatTheLastTurnWrote(stream: Bool) async throws {
        let seen = Mutex<[SimulatedRequest]>([])
        let server = try await ModelSimulator.start(promptCaching: .providers) { request in
            seen.withLock { $0.append(request) }
            return SimulatedReply(text: "ok")
        }
        defer { Task { await server.shutdown() } }
        let model = AnthropicModel(name: "claude-sonnet-4-5", baseURL: "http://127.0.0.1:\(server.port)", apiKey: "k",
                                   cacheTTL: .oneHour)
        let send = { (request: ModelRequest) async throws -> ModelResponse in
            stream ? try await model.complete(request) { _ in } : try await model.complete(request)
        }
        var request = ModelRequest(messages: [.system(Self.longSystem), .user("turn 1")], promptCacheKey: "k1")
        let cold = try await send(request)
        #expect(cold.usage.cacheReadTokens == 0)
        #expect(cold.usage.cacheWriteTokens == cold.usage.inputTokens)
        #expect(cold.usage.cacheWriteOneHourTokens == cold.usage.cacheWriteTokens)
        request.messages += [.assistant("ok"), .user("turn 2")]
        let warm = try await send(request)
        #expect(warm.usage.cacheReadTokens == cold.usage.inputTokens)
        #expect(warm.usage.cacheWriteTokens == warm.usage.inputTokens - cold.usage.inputTokens)
        let requests = seen.withLock { $0 }
        #expect(requests.allSatisfy { $0.cacheBreakpoints == 2 && $0.messages.first?.cacheTTL == "1h" && $0.messages.last?.cacheTTL == "1h" })

        // A one-off prompt (no cache key, as a sub-call) is sent plain and caches nothing.
        let plain = try await send(ModelRequest(messages: [.system(Self.longSystem), .user("sub-call")]))
        #expect(plain.usage.cacheReadTokens == 0 && plain.usage.cacheWriteTokens == 0)
        #expect(seen.withLock { $0.last?.cacheBreakpoints } == 0)
    }

    @Test func promptCacheKeyIsSentOnlyToOpenAIsOwnAPI() throws {
        #expect(OpenAICompatibleModel(name: "gpt-5", apiKey: "k").isOpenAIsOwnAPI)
        #expect(!OpenAICompatibleModel(name: "gpt-5", baseURL: "http://127.0.0.1:8080/v1").isOpenAIsOwnAPI)
        var body = ChatCompletionRequestBody(model: "gpt-5", messages: [.init(role: "user", content: "q")], outputCap: nil,
                                             capField: .maxTokens, temperature: nil, stream: nil, streamOptions: nil)
        #expect(!String(decoding: try ChatCompletionRequestBody.encoder.encode(body), as: UTF8.self).contains("prompt_cache_key"))
        body.promptCacheKey = "rlm-abc"
        #expect(String(decoding: try ChatCompletionRequestBody.encoder.encode(body), as: UTF8.self).contains(#""prompt_cache_key":"rlm-abc""#))
        // One key per trajectory: the same opening gives the same key on every turn, another question another key.
        let opening: [ChatMessage] = [.system("s"), .user("question")]
        let key = RLMNode.promptCacheKey(for: opening)
        #expect(RLMNode.promptCacheKey(for: opening + [.assistant("a"), .user("b")]) == key)
        #expect(RLMNode.promptCacheKey(for: [.system("s"), .user("other")]) != key)
        #expect(!key.contains("question"))
    }

    // MARK: Admission

    @Test func aRootTurnIsForecastAtTheCachePricesOnceTheCacheShowsActivity() throws {
        let sonnet = try #require(PriceTable.builtIn.price(for: "claude-sonnet-4-5"))
        var forecast = PromptCacheForecast()
        // Nothing seen yet: the whole prompt may be written (1.25 × input where writes are billed).
        let first = forecast.expectedUsage(rootTurnOf: "claude-sonnet-4-5", promptChars: 8_000, inputTokens: 2_000, price: sonnet)
        #expect(first.cacheReadTokens == 0 && first.cacheWriteTokens == 2_000)
        forecast.observe(rootTurnOf: "claude-sonnet-4-5", promptChars: 8_000,
                         usage: TokenUsage(inputTokens: 2_000, cacheWriteTokens: 2_000))
        let next = forecast.expectedUsage(rootTurnOf: "claude-sonnet-4-5", promptChars: 10_000, inputTokens: 2_500, price: sonnet)
        #expect(next.cacheReadTokens == 2_000 && next.cacheWriteTokens == 500)
        // A model whose turns showed no cache activity is forecast at the full input price.
        forecast.observe(rootTurnOf: "local", promptChars: 8_000, usage: TokenUsage(inputTokens: 2_000))
        let local = forecast.expectedUsage(rootTurnOf: "local", promptChars: 10_000, inputTokens: 2_500, price: nil)
        #expect(local == TokenUsage(inputTokens: 2_500))
    }
}
