import Foundation
import Testing
@testable import RLMKit

/// The output cap a budget puts on each request: its name on the wire, its ceiling, and its share of the budget.
@Suite struct OutputCapTests {
    static func body(_ cap: Int?, _ field: ChatCompletionRequestBody.CapField) throws -> [String: Any] {
        let body = ChatCompletionRequestBody(model: "m", messages: [.init(role: "user", content: "hi")], outputCap: cap,
                                             capField: field, temperature: nil, stream: nil, streamOptions: nil)
        let data = try ChatCompletionRequestBody.encoder.encode(body)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func openAIsOwnAPIGetsMaxCompletionTokens() throws {
        #expect(OpenAICompatibleModel(name: "gpt-5").capField == .maxCompletionTokens)
        #expect(OpenAICompatibleModel(name: "o3", baseURL: "https://API.openai.com/v1/").capField == .maxCompletionTokens)
        #expect(OpenAICompatibleModel(name: "qwen", baseURL: "http://127.0.0.1:8000/v1").capField == .maxTokens)
        #expect(OpenAICompatibleModel(name: "x", baseURL: "https://openrouter.ai/api/v1").capField == .maxTokens)
        #expect(OpenAICompatibleModel(name: "x", baseURL: "https://api.openai.com.example.net/v1").capField == .maxTokens)

        let openAI = try Self.body(300, .maxCompletionTokens)
        #expect(openAI["max_completion_tokens"] as? Int == 300)
        #expect(openAI["max_tokens"] == nil)
        let other = try Self.body(300, .maxTokens)
        #expect(other["max_tokens"] as? Int == 300)
        #expect(other["max_completion_tokens"] == nil)
        let uncapped = try Self.body(nil, .maxCompletionTokens)
        #expect(uncapped["max_tokens"] == nil && uncapped["max_completion_tokens"] == nil)
    }

    @Test func theCeilingIsTheWindowAndThePublishedLimit() {
        #expect(OutputCeiling.tokens(model: "gpt-4o-mini", windowTokens: 128_000, promptChars: 3_000) == 16_384)
        #expect(OutputCeiling.tokens(model: "openai/gpt-4.1", windowTokens: 1_000_000, promptChars: 3_000) == 32_768)
        // A local model is bounded by what its window leaves after the prompt.
        #expect(OutputCeiling.tokens(model: "qwen3:8b", windowTokens: 8_192, promptChars: 3_000) == 8_192 - 1_016)
    }

    @Test func aLoneRootTurnMayUseAllThatIsLeftAndASubCallShares() async throws {
        let ledger = RunLedger(budget: RLMBudget(maxTokens: 10_000), prices: .builtIn, started: .now)
        // 2,984 characters: 1,010 tokens reserved for the prompt.
        let root = try await ledger.admit(model: "root", promptChars: 2_982, ceiling: nil, share: 1, isSubCall: false)
        #expect(root.outputCap == 10_000 - 1_010)
        await ledger.settle(root, usage: TokenUsage(inputTokens: 900, outputTokens: 100))
        // 9,000 left: a sub-call that may run beside 15 others takes a sixteenth of what its prompt leaves.
        let sub = try await ledger.admitSubCall(model: "sub", promptChars: 0, maxOutputTokens: nil, share: 16)
        #expect(sub.outputCap == (9_000 - 16) / 16)
        let capped = try await ledger.admitSubCall(model: "sub", promptChars: 0, maxOutputTokens: 100, share: 16)
        #expect(capped.outputCap == 100, "the ceiling bounds the share")
        await ledger.settle(sub, usage: nil)
        await ledger.settle(capped, usage: nil)
        await #expect(throws: BudgetExhausted.self) {
            _ = try await ledger.admit(model: "root", promptChars: 27_000, ceiling: nil, share: 1, isSubCall: false)
        }
    }

    @Test func noLimitMeansNoCap() async throws {
        let ledger = RunLedger(budget: RLMBudget(maxSubCalls: 3), prices: .builtIn, started: .now)
        let root = try await ledger.admit(model: "root", promptChars: 100_000, ceiling: 50, share: 1, isSubCall: false)
        #expect(root.outputCap == nil)
        #expect(ModelRequest(messages: []).cappedAt(root.outputCap).maxOutputTokens == nil)
        #expect(ModelRequest(messages: [], maxOutputTokens: 64).cappedAt(32).maxOutputTokens == 32)
    }
}
