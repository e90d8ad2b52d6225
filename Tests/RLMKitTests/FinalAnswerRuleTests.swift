import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// Only code that finishes cleanly submits; a bare FINAL falls back to its literal text only when it is not Python.
@Suite(.serialized) struct FinalAnswerRuleTests {
    func makeRLM(_ root: ScriptedModel) -> RLM {
        RLM(rootModel: root, limits: RLMLimits(maxIterations: 4), repl: REPLConfiguration(cellTimeout: .seconds(30)))
    }

    @Test func finalThenRaiseSubmitsNothing() async throws {
        let root = ScriptedModel(replies: [
            repl("FINAL('too early')\nraise ValueError('checked after submitting')"),
            repl("FINAL('after the fix')"),
        ])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "after the fix")
        #expect(result.iterations == 2)
        let feedback = try #require(root.requests[safe: 1]?.messages.last?.content)
        #expect(feedback.contains("ValueError: checked after submitting"))
        #expect(feedback.contains("raised after submitting an answer, so nothing was submitted"))
    }

    @Test func answerReadyThenRaiseSubmitsNothing() async throws {
        let root = ScriptedModel(replies: [
            repl("answer['content'] = 'too early'\nanswer['ready'] = True\n1 / 0"),
            repl("print(answer['ready'])"),
            repl("FINAL('later')"),
        ])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "later")
        #expect(root.requests[safe: 1]?.messages.last?.content.contains("ZeroDivisionError") == true)
        // The withdrawn flag does not submit on the next clean cell either.
        #expect(root.requests[safe: 2]?.messages.last?.content.contains("False") == true)
    }

    @Test func bareFinalOfAnUndefinedNameShowsTheNameError() async throws {
        let root = ScriptedModel(replies: ["FINAL(result_total)", repl("result_total = 7"), "FINAL(result_total)"])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "7")
        #expect(root.requests[safe: 1]?.messages.last?.content.contains("NameError: name 'result_total' is not defined") == true)
    }

    @Test func bareFinalOfProseIsTakenLiterally() async throws {
        let result = try await makeRLM(ScriptedModel(replies: ["FINAL(the capital is Paris)"])).complete(query: "q", context: .text("c"))
        #expect(result.answer == "the capital is Paris")
    }
}
