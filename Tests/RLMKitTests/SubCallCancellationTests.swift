import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// Stopping stops billing: sub-calls belong to the cell that made them, and end with it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SubCallCancellationTests {
    func makeRLM(_ root: ScriptedModel, sub: any LanguageModel, cellTimeout: Duration = .seconds(30),
                 concurrency: Int = 16, budget: RLMBudget = .init()) -> RLM {
        RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: 4, maxConcurrency: concurrency),
            repl: REPLConfiguration(cellTimeout: cellTimeout, interruptGrace: .seconds(2)), budget: budget)
    }

    @Test func aKilledInterpreterCancelsItsSubCallsAtOnce() async throws {
        let sub = CountingModel(delay: .seconds(30))
        let root = ScriptedModel(replies: [
            repl("""
            import os, threading, time
            for i in range(8):
                threading.Thread(target=llm_query, args=('slow %d' % i,)).start()
            time.sleep(1.5)
            os.kill(os.getpid(), 9)
            """),
            repl("FINAL('after the restart')"),
        ])
        let result = try await makeRLM(root, sub: sub).complete(query: "q", context: .text("c"))
        #expect(result.answer == "after the restart")
        #expect(result.trajectory.contains { $0.event == .interpreterRestarted })
        await waitUntil { sub.cancelled == 8 }
        #expect(sub.started == 8)
        #expect(sub.cancelled == 8)
        #expect(sub.finished == 0)
        #expect(sub.inFlight == 0)
    }

    @Test func subCallsOfThreadsACellDidNotWaitForAreCancelled() async throws {
        let sub = CountingModel(delay: .seconds(30))
        let root = ScriptedModel(replies: [
            repl("""
            import threading, time
            for i in range(4):
                threading.Thread(target=llm_query, args=('slow %d' % i,)).start()
            time.sleep(0.5)
            """),
            repl("FINAL('done')"),
        ])
        let result = try await makeRLM(root, sub: sub).complete(query: "q", context: .text("c"))
        #expect(result.answer == "done")
        let firstCell = try #require(result.trajectory.first { $0.event == .codeExecuted })
        #expect(firstCell.stderr?.contains("4 sub-call request(s) still waiting when the cell ended were cancelled") == true)
        await waitUntil { sub.cancelled == 4 }
        #expect(sub.cancelled == 4)
        #expect(sub.finished == 0)
    }

    @Test func aThreadOfAnInterruptedCellCannotSpendInTheNextCell() async throws {
        let sub = CountingModel(delay: .milliseconds(10))
        let root = ScriptedModel(replies: [
            repl("""
            import threading, time
            late = []
            def later():
                time.sleep(2.5)
                for i in range(5):
                    late.append(llm_query('late %d' % i))
            threading.Thread(target=later).start()
            time.sleep(20)
            """),
            repl("import time\nstart = time.time()\nwhile len(late) < 5 and time.time() - start < 1.5:\n    time.sleep(0.05)\nprint(late)"),
            repl("FINAL(len(late))"),
        ])
        let result = try await makeRLM(root, sub: sub, cellTimeout: .seconds(2)).complete(query: "q", context: .text("c"))
        #expect(result.answer == "5")
        let cells = result.trajectory.filter { $0.event == .codeExecuted }
        #expect(cells.first?.status == "timed_out")
        // Refused either as a call of the interrupted cell or, when it lands between cells, as one made while
        // no cell runs: never sent.
        let late = cells.dropFirst().first?.stdout ?? ""
        #expect(late.contains("Error: cancelled: the cell was interrupted") || late.contains("while no cell was running"), "\(late)")
        #expect(!late.contains("'ok'"))
        #expect(sub.started == 0)
    }

    @Test func timeWaitingOnSubCallsDoesNotCountTowardTheCellLimit() async throws {
        let sub = CountingModel(delay: .milliseconds(400))
        let root = ScriptedModel(replies: [
            repl("r = llm_query_batched(['x'] * 12)\nprint(r.count('ok'))"),
            repl("FINAL(r.count('ok'))"),
        ])
        // 12 calls, 2 at a time, 0.4 s each: about 2.4 s spent waiting, against a 1 s cell limit.
        let result = try await makeRLM(root, sub: sub, cellTimeout: .seconds(1), concurrency: 2)
            .complete(query: "q", context: .text("c"))
        #expect(result.answer == "12")
        #expect(!result.trajectory.contains { $0.status == "timed_out" })
        #expect(sub.finished == 12)
        // The prompt states the cell limit and the rule.
        #expect(root.requests[safe: 0]?.messages.first?.content.contains("A block that computes for more than 1 s is") == true)
    }

    @Test func aThreadPoolOfSubCallsStopsWhenTheRunIsCancelled() async throws {
        let sub = CountingModel(delay: .seconds(30))
        let root = ScriptedModel(replies: [
            repl("""
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(64) as pool:
                answers = list(pool.map(llm_query, ['p%d' % i for i in range(200)]))
            """),
        ])
        let rlm = makeRLM(root, sub: sub, concurrency: 64, budget: RLMBudget(timeout: .seconds(3)))
        let result = try await rlm.complete(query: "q", context: .text("c"))
        #expect(result.stopReason == "timeout")
        await waitUntil { sub.inFlight == 0 }
        #expect(sub.inFlight == 0)
        #expect(sub.finished == 0)
        #expect(sub.started == sub.cancelled)
        #expect(sub.started <= 64)
    }
}
