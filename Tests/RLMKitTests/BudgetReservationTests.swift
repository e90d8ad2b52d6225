import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// Budgets hold within a batch; models named in code must be configured; prices are exact.
@Suite(.serialized) struct BudgetReservationTests {
    func makeRLM(_ root: ScriptedModel, sub: any LanguageModel, budget: RLMBudget = .init(), allowed: [String] = [],
                 prices: PriceTable = .builtIn) -> RLM {
        // A short system prompt, so the root's turn (admitted by its prompt's length) fits the small budgets here.
        RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: 4, maxConcurrency: 16),
            repl: REPLConfiguration(cellTimeout: .seconds(60)), systemPrompt: "Answer with code.", budget: budget,
            prices: prices, allowedModels: allowed)
    }

    @Test func aBatchStopsWhereTheTokenBudgetDoes() async throws {
        // Each sub-call costs 10 tokens and the root's first turn 110: a limit of 610 leaves room for about 50.
        let sub = CountingModel(delay: .milliseconds(20))
        let root = ScriptedModel(replies: [
            repl("r = llm_query_batched(['p'] * 200)\nok = sum(a == 'ok' for a in r)\nprint(ok)\nFINAL(ok)"),
        ])
        let result = try await makeRLM(root, sub: sub, budget: RLMBudget(maxTokens: 610)).complete(query: "q", context: .text("c"))
        let answered = try #require(Int(result.answer))
        #expect(answered >= 40 && answered <= 55, "\(answered) sub-calls were answered")
        #expect(sub.started == answered)
        #expect(result.totalUsage.totalTokens <= 610 + 2 * 10)
    }

    @Test func aCostLimitHoldsWithinABatchToo() async throws {
        let sub = CountingModel(name: "priced-sub", delay: .milliseconds(20), usage: TokenUsage(inputTokens: 1_000, outputTokens: 0))
        let root = ScriptedModel(name: "priced-root", replies: [repl("r = llm_query_batched(['p'] * 100)\nFINAL(sum(a == 'ok' for a in r))")])
        // $1 per million input tokens: $0.001 per sub-call, the root's turn $0.0001; $0.02 allows 19 or so.
        let prices = PriceTable(prices: ["priced-sub": .init(inputPerMillion: 1, outputPerMillion: 1),
                                         "priced-root": .init(inputPerMillion: 1, outputPerMillion: 1)])
        let result = try await makeRLM(root, sub: sub, budget: RLMBudget(maxCostUSD: 0.02), prices: prices)
            .complete(query: "q", context: .text("c"))
        let answered = try #require(Int(result.answer))
        #expect(answered >= 12 && answered <= 20, "\(answered) sub-calls were answered")
        #expect((result.costUSD ?? 1) <= 0.0215)
    }

    @Test func onlyConfiguredModelsCanBeNamedInCode() async throws {
        let sub = FunctionModel(name: "sub-model") { _ in "ok" }
        let root = ScriptedModel(name: "root-model", replies: [
            repl("print(llm_query('hi', model='gpt-4o'))\nprint(llm_query('hi', model='sub-model'))\nprint(llm_query('hi', model='extra-model'))"),
            repl("FINAL('went on')"),
        ])
        let result = try await makeRLM(root, sub: sub, allowed: ["extra-model"]).complete(query: "q", context: .text("c"))
        #expect(result.answer == "went on")
        let output = try #require(result.trajectory.first { $0.event == .codeExecuted }?.stdout)
        #expect(output == "Error: unknown model gpt-4o (allowed: root-model, sub-model, extra-model)\nok\nok\n")
        #expect(sub.calls == 1)
        #expect(result.usageByModel["extra-model"]?.calls == 1)
    }

    @Test func anUnpricedModelIsRefusedUnderACostLimit() async throws {
        let sub = FunctionModel(name: "gpt-4.1-mini") { _ in "ok" }
        let root = ScriptedModel(name: "gpt-4.1", replies: [
            repl("print(llm_query('hi', model='house-model'))\nprint(llm_query('hi'))"),
            repl("FINAL('done')"),
        ])
        let result = try await makeRLM(root, sub: sub, budget: RLMBudget(maxCostUSD: 1), allowed: ["house-model"])
            .complete(query: "q", context: .text("c"))
        let output = try #require(result.trajectory.first { $0.event == .codeExecuted }?.stdout)
        #expect(output.contains("Error: model house-model has no price, and the run has a cost limit"))
        #expect(sub.calls == 1)
        #expect(result.usageByModel["house-model"] == nil)
        #expect(result.costUSD != nil)
    }

    @Test func pricesMatchExactModelIDs() {
        let table = PriceTable.builtIn
        #expect(table.price(for: "gpt-5-pro")?.inputPerMillion == 15)
        #expect(table.price(for: "gpt-5")?.inputPerMillion == 1.25)
        #expect(table.price(for: "gpt-5-codex") == nil)
        #expect(table.price(for: "gpt-4.1-mini-2025-04-14") == table.price(for: "gpt-4.1-mini"))
        #expect(table.price(for: "claude-sonnet-4-20250514") == table.price(for: "claude-sonnet-4"))
        #expect(table.price(for: "claude-3-5-haiku-latest") == table.price(for: "claude-3-5-haiku"))
        #expect(table.price(for: "gpt-4o-mini-audio-preview") == nil)
    }

    @Test func snapshotSuffixesAreDatesOnly() {
        #expect(PriceTable.snapshotBase(of: "gpt-4.1-2025-04-14") == "gpt-4.1")
        #expect(PriceTable.snapshotBase(of: "claude-opus-4-20250514") == "claude-opus-4")
        #expect(PriceTable.snapshotBase(of: "gpt-4.1-2025-04-1x") == nil)
        #expect(PriceTable.snapshotBase(of: "model-2025041") == nil)
        #expect(PriceTable.snapshotBase(of: "-20250514") == nil, "a date alone leaves no model name")
        #expect(PriceTable.snapshotBase(of: "qwen3:8b") == nil)
    }
}
