import Foundation
@testable import RLMBench
import Testing

/// The scripted model of `rlm bench --simulated` reads each task: given the whole input it answers right, and
/// given a cut input it misses what was cut.
struct SimulatedModelTests {
    @Test(arguments: [BenchSuite.niah, .oolong, .pairs, .codeqa])
    func theBaseRoleAnswersFromTheWholeInput(suite: BenchSuite) throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-sim-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for task in try BenchTaskSet.make(suite: suite, seed: 11, sizes: [3_000], count: 3, workDirectory: scratch) {
            let (prompt, _) = BasePrompt.make(task, windowTokens: 100_000)
            let answer = BenchSimulatedModel.answerFromPrompt(prompt)
            #expect(BenchScorer.score(answer, against: task.gold) == 1, "\(task.id): \(answer) against \(task.gold)")
        }
    }

    @Test func theRootRoleWritesCodeThatSearchesTheContext() {
        let task = NIAHGenerator.make(seed: 1, sizeTokens: 1_000, index: 0, count: 1)
        let code = BenchSimulatedModel.code(for: task.question)
        #expect(code.contains("re.search"))
        #expect(code.contains("context"))
        guard case .exact(let gold) = task.gold else { return }
        #expect(!code.contains(gold), "the code finds the answer; it does not carry it")
        let oolong = BenchSimulatedModel.code(for: OolongGenerator.make(seed: 1, sizeTokens: 1_000, index: 0).question)
        #expect(oolong.contains("llm_query_batched"))
    }

    @Test func theSubRoleLabelsEachRecordFromItsText() {
        let prompt = """
            \(BenchSimulatedModel.labelRequest) abbreviation, entity. One label per line, in order.
            Date: Jan 01, 2020 || User: 1 || Instance: Where is the oldest bridge in Oslo?
            Date: Jan 02, 2020 || User: 2 || Instance: What does NASA stand for?
            """
        #expect(BenchSimulatedModel.labels(for: prompt) == "location\nabbreviation")
    }
}
