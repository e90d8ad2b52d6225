import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// Recursion, budgets over the whole tree, and history compaction, against the real REPL.
@Suite(.serialized) struct TreeAndBudgetTests {
    func makeRLM(_ root: ScriptedModel, sub: (any LanguageModel)? = nil, iterations: Int = 6, depth: Int = 1,
                 concurrency: Int = 16, budget: RLMBudget = .init(), prices: PriceTable = .builtIn,
                 window: Int? = nil, systemPrompt: String? = nil) -> RLM {
        RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: iterations, maxConcurrency: concurrency, maxDepth: depth),
            repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)), systemPrompt: systemPrompt,
            budget: budget, prices: prices, rootModelWindowTokens: window)
    }

    /// A system prompt short enough that a root turn fits a small budget: root turns are admitted by their
    /// prompt's length, and the scripted model reports 100 input tokens whatever it is sent.
    static let shortSystemPrompt = "Answer with code."

    /// The question an RLM was asked (children get the prompt of their rlm_query).
    static func question(of request: ModelRequest) -> String {
        request.messages.count > 1 ? request.messages[1].content : ""
    }

    @Test func childRLMRunsInItsOwnREPL() async throws {
        let root = ScriptedModel { request, _ in
            let turns = request.messages.filter { $0.role == .assistant }.count
            if Self.question(of: request).contains("COUNT WORDS") {
                return ModelResponse(text: repl("secret_child_var = 1\nFINAL(len(context.split()))"), model: "r")
            }
            return ModelResponse(text: turns == 0
                ? repl("r = rlm_query('COUNT WORDS', context='a b c d')\nprint('child said', r, 'secret_child_var' in globals())")
                : repl("FINAL(r)"), model: "r")
        }
        let result = try await makeRLM(root, depth: 2).complete(query: "top question", context: .text("top"))
        #expect(result.answer == "4")
        #expect(root.requests.contains { $0.messages.last!.content.contains("child said 4 False") })
        let childEvents = result.trajectory.filter { $0.trajectory == "0.1" }
        #expect(childEvents.contains { $0.event == .codeExecuted })
        #expect(result.trajectory.contains { $0.event == .subCallStarted && $0.childTrajectory == "0.1" })
        #expect(result.subCalls == 1)
    }

    @Test func atTheDepthLimitRLMQueryIsAPlainSubCall() async throws {
        let sub = FunctionModel { prompt in "sub saw: " + prompt }
        let root = ScriptedModel(replies: [repl("FINAL(rlm_query('summarise', context='the text'))")])
        let result = try await makeRLM(root, sub: sub, depth: 1).complete(query: "q", context: .text("c"))
        #expect(result.answer == "sub saw: summarise\n\nthe text")
        #expect(sub.calls == 1)
    }

    @Test func batchedChildrenRunConcurrently() async throws {
        let root = ScriptedModel { request, _ in
            if Self.question(of: request).contains("CHILD") {
                return ModelResponse(text: repl("import time\ntime.sleep(1)\nFINAL(context.upper())"), model: "r")
            }
            return ModelResponse(text: repl("FINAL('|'.join(rlm_query_batched(['CHILD'] * 4, ['a', 'b', 'c', 'd'])))"), model: "r")
        }
        let result = try await makeRLM(root, depth: 2).complete(query: "q", context: .text("c"))
        #expect(result.answer == "A|B|C|D")
        let starts = result.trajectory.filter { $0.event == .subCallStarted && $0.childTrajectory != nil }.map(\.time)
        let ends = result.trajectory.filter { $0.event == .subCallFinished && $0.childTrajectory != nil }.map(\.time)
        #expect(starts.count == 4)
        // Every child started before any of them finished: they overlapped.
        #expect(starts.max()! < ends.min()!)
    }

    @Test func thousandConcurrentSubCallsAddUpExactly() async throws {
        let sub = FunctionModel(delay: .milliseconds(2)) { _ in "ok" }
        let root = ScriptedModel(replies: [repl("r = llm_query_batched(['p%d' % i for i in range(1000)])\nFINAL(r.count('ok'))")])
        let result = try await makeRLM(root, sub: sub, concurrency: 64).complete(query: "q", context: .text("c"))
        #expect(result.answer == "1000")
        #expect(result.subCalls == 1000)
        let usage = try #require(result.usageByModel["scripted-sub"])
        #expect(usage.calls == 1000)
        #expect(usage.inputTokens == 7_000)
        #expect(usage.outputTokens == 3_000)
        #expect(result.totalUsage == TokenUsage(inputTokens: 7_000 + 100, outputTokens: 3_000 + 10))
        #expect(sub.peak <= 64)
    }

    @Test func subCallsPastTheLimitReturnBudgetErrors() async throws {
        let sub = FunctionModel { _ in "ok" }
        let root = ScriptedModel(replies: [
            repl("r = llm_query_batched(['x'] * 8)\nprint('refused', sum(a.startswith('Error: budget exhausted') for a in r))"),
            repl("FINAL('done')"),
        ])
        let result = try await makeRLM(root, sub: sub, budget: RLMBudget(maxSubCalls: 5)).complete(query: "q", context: .text("c"))
        #expect(result.answer == "done")
        #expect(result.subCalls == 5)
        #expect(sub.calls == 5)
        let feedback = root.requests[1].messages.last!.content
        #expect(feedback.contains("refused 3"))
        #expect(feedback.contains("Budget left: 0 of 5 sub-calls"))
    }

    @Test func tokenLimitStopsTheRunWithAPartialAnswer() async throws {
        let root = ScriptedModel(replies: ["Still thinking about it.\n" + repl("print(1)")])
        let result = try await makeRLM(root, iterations: 20, budget: RLMBudget(maxTokens: 500), systemPrompt: Self.shortSystemPrompt)
            .complete(query: "q", context: .text("c"))
        #expect(result.status == .partial)
        #expect(result.stopReason == "max_tokens")
        #expect(result.answer == "Still thinking about it.")
        // The next turn is refused once its prompt no longer fits beside what was spent: the limit is never passed.
        #expect(root.requests.count >= 2 && root.requests.count < 5)
        #expect(result.totalUsage.totalTokens <= 500)
        #expect(root.requests.allSatisfy { ($0.maxOutputTokens ?? .max) <= 500 }, "every root turn carries the cap")
    }

    @Test func costLimitNeedsAPriceForEveryModel() async throws {
        let root = ScriptedModel(replies: [repl("FINAL('x')")])
        await #expect(throws: UnpricedModel.self) {
            _ = try await makeRLM(root, budget: RLMBudget(maxCostUSD: 1)).complete(query: "q", context: .text("c"))
        }
        let priced = PriceTable.builtIn.merging(["scripted-root": ModelPrice(inputPerMillion: 1_000, outputPerMillion: 10_000)])
        let result = try await makeRLM(root, budget: RLMBudget(maxCostUSD: 1), prices: priced, systemPrompt: Self.shortSystemPrompt)
            .complete(query: "q", context: .text("c"))
        #expect(result.answer == "x")
        // 100 input tokens at $1000/M and 10 output tokens at $10000/M.
        #expect(abs((result.costUSD ?? 0) - 0.2) < 1e-9)
    }

    @Test func costLimitStopsTheRun() async throws {
        let priced = PriceTable(prices: ["scripted-root": ModelPrice(inputPerMillion: 1_000, outputPerMillion: 0)])
        let root = ScriptedModel(replies: [repl("print(1)")])
        let result = try await makeRLM(root, iterations: 20, budget: RLMBudget(maxCostUSD: 0.5), prices: priced,
                                       systemPrompt: Self.shortSystemPrompt)
            .complete(query: "q", context: .text("c"))
        #expect(result.stopReason == "max_cost")
        #expect(root.requests.count >= 2 && root.requests.count < 5)
        #expect((result.costUSD ?? 1) <= 0.5)
    }

    @Test func wallTimeoutStopsARunningCell() async throws {
        let root = ScriptedModel(replies: ["Sleeping on it.\n" + repl("import time\ntime.sleep(60)")])
        let started = ContinuousClock.now
        let result = try await makeRLM(root, budget: RLMBudget(timeout: .seconds(2))).complete(query: "q", context: .text("c"))
        #expect(result.status == .partial)
        #expect(result.stopReason == "timeout")
        #expect(result.answer == "Sleeping on it.")
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(result.trajectory.last?.event == .runFinished)
    }

    @Test func consecutiveFailingCellsStopTheRun() async throws {
        let root = ScriptedModel(replies: [repl("raise ValueError('nope')")])
        let result = try await makeRLM(root, iterations: 20, budget: RLMBudget(maxConsecutiveErrors: 3))
            .complete(query: "q", context: .text("c"))
        #expect(result.stopReason == "max_errors")
        #expect(root.requests.count == 3)
    }

    @Test func badKeyInASubCallStopsTheRunAtOnce() async throws {
        struct Unauthorized: LanguageModel {
            let name = "locked"
            func complete(_ request: ModelRequest) async throws -> ModelResponse {
                throw ModelError.unauthorized(endpoint: "http://x", status: 401, detail: "bad key")
            }
        }
        let root = ScriptedModel(replies: [repl("print(llm_query('hi'))"), repl("FINAL('should not get here')")])
        // The run failed after its first turn: the cause travels with the partial result.
        let failure = await #expect(throws: RLMRunFailure.self) {
            _ = try await makeRLM(root, sub: Unauthorized()).complete(query: "q", context: .text("c"))
        }
        #expect(failure?.error is ModelError)
        #expect(failure?.partial.stopReason == "failed")
        #expect(root.requests.count == 1)
    }

    @Test func longHistoriesAreCompactedAndKeptInTheREPL() async throws {
        let root = ScriptedModel { request, index in
            if request.messages.first?.content.contains("You condense the working notes") == true {
                return ModelResponse(text: "SUMMARY: printed lots of x; nothing found yet.", model: "r")
            }
            if index == 0 { return ModelResponse(text: repl("history = 'the model\\'s own variable'"), model: "r") }
            if index < 7 { return ModelResponse(text: repl("print('x' * 6000)"), model: "r") }
            return ModelResponse(text: repl("FINAL('%d messages in history; history = %s' % (len(rlm_history), history))"), model: "r")
        }
        let result = try await makeRLM(root, iterations: 10, window: 4_000).complete(query: "q", context: .text("c"))
        #expect(result.status == .answered)
        #expect(result.answer.hasSuffix("messages in history; history = the model's own variable"))
        #expect(result.trajectory.contains { $0.event == .historyCompacted })
        let compacted = try #require(root.requests.last)
        #expect(compacted.messages.count <= 6)
        #expect(compacted.messages[1].content.contains("SUMMARY: printed lots of x"))
        #expect(compacted.messages.map(\.content).joined().count < 4_000 * 4)
    }
}
