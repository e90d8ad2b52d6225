import Foundation
import RLMKit
import RLMTesting
import Testing

/// `RLM.modelCallLimiter`: runs given one limiter (`rlm bench --parallel`) share its slots, each keeping its own
/// budget.
struct SharedLimiterTests {
    func makeRLM(sub: FunctionModel, limiter: ConcurrencyLimiter?) -> RLM {
        let root = ScriptedModel(replies: [repl("r = llm_query_batched(['p%d' % i for i in range(6)])\nFINAL(r.count('ok'))")])
        var rlm = RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: 3, maxConcurrency: 3),
                      repl: REPLConfiguration(cellTimeout: .seconds(60)), budget: RLMBudget(maxSubCalls: 6))
        rlm.modelCallLimiter = limiter
        return rlm
    }

    @Test(.timeLimit(.minutes(1))) func twoRunsGivenOneLimiterNeverExceedItTogether() async throws {
        let sub = FunctionModel(delay: .milliseconds(100)) { _ in "ok" }
        let limiter = ConcurrencyLimiter(limit: 3)
        let (first, second) = (makeRLM(sub: sub, limiter: limiter), makeRLM(sub: sub, limiter: limiter))
        async let a = first.complete(query: "q", context: .text("c"))
        async let b = second.complete(query: "q", context: .text("c"))
        let results = try await [a, b]
        // Each run kept its own budget of 6 sub-calls and answered; together they never had more than 3 in flight.
        #expect(results.map(\.answer) == ["6", "6"])
        #expect(results.map(\.subCalls) == [6, 6])
        #expect(sub.peak <= 3, "shared limit of 3, peak \(sub.peak)")
        #expect(await limiter.peak == 3)
    }
}
