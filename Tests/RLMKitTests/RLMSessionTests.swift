import Foundation
import Synchronization
import Testing
@testable import RLMKit
import RLMTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sessions against a scripted root model and the real Python REPL.
@Suite(.serialized) struct RLMSessionTests {
    func makeRLM(_ root: ScriptedModel, iterations: Int = 4, budget: RLMBudget = .init(), logURL: URL? = nil,
                 tools: [RLMTool] = []) -> RLM {
        RLM(rootModel: root, limits: RLMLimits(maxIterations: iterations),
            repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)),
            logURL: logURL, budget: budget, tools: tools)
    }

    /// Replies with `code` for each question (picked by the question's text), and with a summary to a
    /// compaction request.
    func scripted(_ answers: [(question: String, code: String)]) -> ScriptedModel {
        ScriptedModel { request, _ in
            let last = request.messages.last?.content ?? ""
            let text: String
            if request.messages.first?.content == Prompts.compactionSystem {
                text = "Summary: the earlier questions were answered."
            } else {
                let question = answers.last { last.contains("The question to answer:\n\($0.question)") }
                text = question.map { repl($0.code) } ?? repl("FINAL('unscripted')")
            }
            return ModelResponse(text: text, usage: TokenUsage(inputTokens: 100, outputTokens: 10), model: "scripted-root")
        }
    }

    @Test func variablesPersistAndHistoryCarriesOverCompacted() async throws {
        let root = scripted([("How long?", "n = len(context)\nFINAL(str(n))"),
                             ("Twice that?", "doubled = n * 2\nFINAL(str(doubled))"),
                             ("And plus one?", "FINAL(str(doubled + 1))")])
        let session = try await RLMSession(rlm: makeRLM(root), context: .text("hello world"))
        #expect(session.loadSeconds > 0)
        #expect(session.contextDescription.type == "str")
        let first = try await session.ask("How long?")
        let second = try await session.ask("Twice that?")
        var events: [RLMEvent.Kind] = []
        let seen = Mutex<[RLMEvent]>([])
        let third = try await session.ask("And plus one?") { event in seen.withLock { $0.append(event) } }
        events = seen.withLock { $0.map(\.event) }
        #expect([first.answer, second.answer, third.answer] == ["11", "22", "23"])
        #expect([first.status, second.status, third.status] == [.answered, .answered, .answered])
        // The second question saw the first one's question and answer.
        let secondTurn = root.requests[1].messages.last?.content ?? ""
        #expect(secondTurn.contains("Q: How long?") && secondTurn.contains("A: 11"))
        // Before the third, the history was condensed by the engine's compaction, and that cost was the third's.
        #expect(events.contains(.historyCompacted))
        #expect(events.first == .runStarted && events.last == .runFinished)
        let thirdPrompt = root.requests.last?.messages ?? []
        #expect(thirdPrompt.contains { $0.content.contains("Summary: the earlier questions were answered.") })
        #expect(third.iterations == 1)
        await session.close()
    }

    @Test func laterQuestionsReuseTheLoadedContext() async throws {
        let root = scripted([("a", "FINAL('1')"), ("b", "FINAL('2')")])
        let session = try await RLMSession(rlm: makeRLM(root), context: .text("x"))
        let loads = Mutex<[RLMEvent]>([])
        for question in ["a", "b"] {
            _ = try await session.ask(question) { event in
                if event.event == .contextLoaded { loads.withLock { $0.append(event) } }
            }
        }
        let events = loads.withLock { $0 }
        #expect(events.count == 2)
        #expect(events.first?.details?["reused"] == nil)
        #expect(events.last?.details?["reused"] == .bool(true))
        #expect(events.last?.seconds == 0)
        await session.close()
    }

    @Test func aClosedSessionRefusesQuestions() async throws {
        let session = try await RLMSession(rlm: makeRLM(scripted([])), context: .text("x"))
        await session.close()
        #expect(await session.isClosed)
        await #expect(throws: RLMSessionError.self) { _ = try await session.ask("anything") }
        await session.close()
    }

    @Test func cancellingAQuestionKillsTheREPLAndClosesTheSession() async throws {
        let started = Mutex(false)
        let signal = RLMTool(name: "started", description: "Says the cell runs.") { _ in
            started.withLock { $0 = true }
            return .null
        }
        let root = scripted([("wait", "import time\nstarted()\ntime.sleep(120)")])
        let session = try await RLMSession(rlm: makeRLM(root, tools: [signal]), context: .text("x"))
        let pid = try #require(await session.host.repl.processID)
        let task = Task { try await session.ask("wait") }
        await waitUntil(.seconds(60)) { started.withLock { $0 } }
        #expect(started.withLock { $0 })
        task.cancel()
        let result = try await task.value
        #expect(result.status == .partial)
        #expect(result.stopReason == "cancelled")
        #expect(await session.isClosed)
        await waitUntil(.seconds(30)) { kill(pid, 0) != 0 }
        #expect(kill(pid, 0) != 0)
        await #expect(throws: RLMSessionError.self) { _ = try await session.ask("wait") }
    }

    @Test func aQuestionPastItsTimeoutLeavesTheSessionUsable() async throws {
        let root = scripted([("slow", "kept = 41\nimport time\ntime.sleep(120)"), ("next", "FINAL(str(kept + 1))")])
        let session = try await RLMSession(rlm: makeRLM(root, budget: RLMBudget(timeout: .seconds(3))), context: .text("x"))
        let slow = try await session.ask("slow")
        #expect(slow.status == .partial)
        #expect(slow.stopReason == "timeout")
        #expect(await !session.isClosed)
        let next = try await session.ask("next")
        #expect(next.answer == "42")
        await session.close()
    }

    @Test func questionsRunOneAtATime() async throws {
        let code = """
        import time
        order = globals().get('order', [])
        order.append('start')
        time.sleep(0.5)
        order.append('end')
        FINAL(','.join(order))
        """
        let root = scripted([("one", code), ("two", code), ("three", code)])
        let session = try await RLMSession(rlm: makeRLM(root), context: .text("x"))
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for question in ["one", "two", "three"] { group.addTask { try await session.ask(question).answer } }
            var all: [String] = []
            for try await answer in group { all.append(answer) }
            return all
        }
        #expect(answers.contains("start,end,start,end,start,end"))
        #expect(!answers.contains { $0.contains("start,start") })
        await session.close()
    }

    @Test func eachQuestionHasItsOwnBudgetAndLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-session-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl")
        let code = "print(llm_query('a'))\nprint(llm_query('b'))\nFINAL(llm_query('c'))"
        let root = scripted([("first", code), ("second", code)])
        let budget = RLMBudget(maxSubCalls: 2)
        let session = try await RLMSession(rlm: makeRLM(root, budget: budget, logURL: log), context: .text("x"))
        let first = try await session.ask("first")
        let second = try await session.ask("second")
        #expect(first.subCalls == 2 && second.subCalls == 2)
        #expect(first.answer.contains("max-subcalls") && second.answer.contains("max-subcalls"))
        #expect(first.logPath == log.path)
        #expect(second.logPath == directory.appendingPathComponent("run-q2.jsonl").path)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("run-q2.jsonl").path))
        await session.close()
    }
}

/// Saving a session and resuming it in another one.
@Suite(.serialized) struct RLMSessionSavingTests {
    @Test func variablesThatPickleAndTheHistoryComeBack() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-saved-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A key of the test's own, not the user's.
        let key = try SessionSigningKey(bytes: (0..<32).map { UInt8($0) })
        let setup = """
        import json, threading
        counts = {'a': 1, 'b': 2}
        words = ['x', 'y']
        lock = threading.Lock()
        def helper():
            return 1
        FINAL('set')
        """
        let first = ScriptedModel(replies: [repl(setup)])
        let rlm = RLM(rootModel: first, limits: RLMLimits(maxIterations: 3),
                      repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)))
        let session = try await RLMSession(rlm: rlm, context: .text("hello"))
        _ = try await session.ask("Set things up")
        let saved = try await session.save(to: directory, key: key)
        await session.close()
        #expect(saved.variables == ["counts", "words"])
        #expect(saved.skipped["json"]?.contains("module") == true)
        #expect(saved.skipped["helper"]?.contains("function") == true)
        #expect(saved.skipped["lock"]?.contains("pickle") == true)
        #expect(saved.questions == 1)

        let second = ScriptedModel { request, _ in
            let text = request.messages.first?.content == Prompts.compactionSystem
                ? "Summary." : repl("FINAL(f\"{counts['b']} {words} {'lock' in globals()}\")")
            return ModelResponse(text: text, usage: TokenUsage(inputTokens: 1, outputTokens: 1), model: "scripted-root")
        }
        var again = rlm
        again.rootModel = second
        let resumed = try await RLMSession(rlm: again, context: .text("hello"))
        let restored = try await resumed.restore(from: directory, key: key)
        #expect(restored.variables == ["counts", "words"])
        #expect(restored.skipped["lock"]?.hasPrefix("not saved") == true)
        #expect(restored.notes.isEmpty)
        let answer = try await resumed.ask("What is there?")
        #expect(answer.answer == "2 ['x', 'y'] False")
        // The resumed conversation carries the first question.
        let turn = second.requests.last?.messages.last?.content ?? ""
        #expect(turn.contains("Q: Set things up"))
        await resumed.close()
    }

    @Test func resumingFromANonSessionSaysSo() async throws {
        let rlm = RLM(rootModel: ScriptedModel(replies: [repl("FINAL('x')")]))
        let session = try await RLMSession(rlm: rlm, context: .text("hello"))
        await #expect(throws: RLMSessionError.self) {
            _ = try await session.restore(from: FileManager.default.temporaryDirectory.appendingPathComponent("rlm-none-\(UUID().uuidString)"))
        }
        await session.close()
    }
}
