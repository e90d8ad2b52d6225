import Synchronization
import Testing
@testable import RLMKit
import RLMTesting

extension RLMSessionTests {
    /// A question cancelled while it waits for an earlier one leaves the queue and throws `CancellationError`;
    /// the earlier question, its REPL and the session go on. Before, the queue ignored cancellation and the
    /// cancelled question killed the REPL the earlier one was running in.
    @Test(.timeLimit(.minutes(1))) func aQuestionCancelledWhileWaitingForItsTurnLeavesTheQueue() async throws {
        let started = Mutex(false)
        let proceed = Mutex(false)
        let signal = RLMTool(name: "started", description: "Says the cell runs.") { _ in
            started.withLock { $0 = true }
            return .null
        }
        let gate = RLMTool(name: "may_finish", description: "Says whether the cell may finish.") { _ in
            .bool(proceed.withLock { $0 })
        }
        let root = scripted([("first", "import time\nstarted()\nwhile not may_finish(): time.sleep(0.05)\nFINAL('first')"),
                             ("second", "FINAL('second')"), ("third", "FINAL('third')")])
        let session = try await RLMSession(rlm: makeRLM(root, tools: [signal, gate]), context: .text("x"))
        let first = Task { try await session.ask("first") }
        await waitUntil(.seconds(30)) { started.withLock { $0 } }
        let second = Task { try await session.ask("second") }
        await waitUntil(.seconds(30)) { session.waiting.count == 1 }
        #expect(session.waiting.count == 1)

        second.cancel()
        await #expect(throws: CancellationError.self) { _ = try await second.value }
        #expect(session.waiting.isEmpty)
        #expect(await !session.isClosed)

        proceed.withLock { $0 = true }
        let answer = try await first.value
        #expect(answer.answer == "first" && answer.status == .answered)
        #expect(try await session.ask("third").answer == "third")
        // The cancelled question never reached the model.
        #expect(!root.requests.contains { $0.messages.last?.content.contains("The question to answer:\nsecond") == true })
        await session.close()
    }
}
