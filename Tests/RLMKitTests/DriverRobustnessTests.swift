import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// The driver survives stray interrupts, refuses data JSON cannot carry, and never drops a message it cannot read.
@Suite(.serialized) struct DriverRobustnessTests {
    func makeRLM(_ root: ScriptedModel, sub: (any LanguageModel)? = nil, iterations: Int = 4, depth: Int = 1) -> RLM {
        RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: iterations, maxDepth: depth),
            repl: REPLConfiguration(cellTimeout: .seconds(30)))
    }

    @Test func codeThatConnectsToTheHostSocketAgainIsRefused() async throws {
        // The code finds the driver's socket and connects to it ten times: each extra peer is closed by the host
        // (it reads end-of-file), the host does not crash, and the driver's own connection carries on.
        let root = ScriptedModel(replies: [
            repl("""
            import gc, socket
            driver = [o for o in gc.get_objects() if type(o).__name__ == 'Channel' and hasattr(o, 'sock')][0]
            path = driver.sock.getpeername()
            answers = []
            for _ in range(10):
                peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                peer.settimeout(10)
                try:
                    peer.connect(path)
                    peer.sendall(b'{"type": "llm_request", "id": 999, "prompts": ["x"]}\\n')
                    answers.append(peer.recv(100))
                except OSError as error:
                    answers.append(type(error).__name__)
                finally:
                    peer.close()
            print(answers)
            """),
            repl("FINAL('closed' if all(a in (b'', 'ConnectionResetError', 'BrokenPipeError') for a in answers) else repr(answers))"),
        ])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "closed")
        #expect(!result.trajectory.contains { $0.event == .interpreterRestarted })
    }

    @Test func aStormOfInterruptsNeverKillsTheInterpreter() async throws {
        // SIGINTs every 2 ms for 4 s, landing wherever the driver is, between and around 60 short cells.
        var replies = [repl("""
            import os, signal, threading, time
            kept = 'still here'
            def storm():
                end = time.time() + 4
                while time.time() < end:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.002)
            threading.Thread(target=storm, daemon=True).start()
            """)]
        replies += Array(repeating: repl("x = 1"), count: 60)
        // The last cell outlasts the storm (interrupts inside user code are the cell's own business).
        replies.append(repl("""
            import time
            end = time.time() + 4.5
            while True:
                try:
                    if time.time() > end:
                        break
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    pass
            FINAL(kept)
            """))
        let root = ScriptedModel(replies: replies)
        let result = try await makeRLM(root, iterations: 70).complete(query: "q", context: .text("c"))
        #expect(!result.trajectory.contains { $0.event == .interpreterRestarted })
        #expect(result.answer == "still here", "\(result.trajectory.filter { $0.event == .codeExecuted }.suffix(4).map { "\($0.seconds ?? 0) \($0.stderr ?? "")" })")
    }

    @Test(.timeLimit(.minutes(1))) func nanInAChildContextIsAnErrorNotAHang() async throws {
        let root = ScriptedModel { request, _ in
            if TreeAndBudgetTests.question(of: request).contains("CHILD") {
                return ModelResponse(text: repl("FINAL('child ran')"), model: "r")
            }
            let turns = request.messages.filter { $0.role == .assistant }.count
            return ModelResponse(text: turns == 0
                ? repl("try:\n    rlm_query('CHILD', context={'x': float('nan')})\nexcept TypeError as problem:\n    print('refused:', problem)\nprint(rlm_query('CHILD', context={'x': 1.5}))")
                : repl("FINAL('done')"), model: "r")
        }
        let result = try await makeRLM(root, depth: 2).complete(query: "q", context: .text("c"))
        #expect(result.answer == "done")
        let output = try #require(result.trajectory.first { $0.event == .codeExecuted && $0.trajectory == "0" }?.stdout)
        #expect(output.contains("refused: rlm_query: a context must be JSON data"))
        #expect(output.contains("child ran"))
    }

    @Test(.timeLimit(.minutes(1))) func anUndecodableRequestGetsItsInterpreterReplaced() async throws {
        // User code can reach the driver's channel (it is its own process); it sends a request the host cannot
        // decode and waits on it as llm_query would. Only hostile code breaks the protocol: its interpreter is
        // killed and replaced, the model is told why, and the run goes on.
        let root = ScriptedModel(replies: [
            repl("""
            import gc, threading
            channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')
            slot = {'event': threading.Event(), 'results': None, 'count': 1, 'cell': channel.current_cell}
            channel.pending[4242] = slot
            channel.sock.sendall(b'{"type": "llm_request", "id": 4242, "cell": %d, "prompts": [1]}\\n' % channel.current_cell)
            print(slot['event'].wait(20), slot['results'])
            """),
            repl("""
            import gc, threading
            channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')
            mine = {'event': threading.Event(), 'results': None, 'count': 2, 'cell': channel.current_cell}
            channel.pending[4343] = mine
            channel.undecodable(b'{"type": "llm_result", "id": 4343, "results": [NaN', ValueError('broken line'))
            print(mine['event'].is_set(), mine['results'])
            """),
            repl("FINAL('ok')"),
        ])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "ok")
        let restart = try #require(result.trajectory.first { $0.event == .interpreterRestarted })
        #expect(restart.error?.contains("not valid protocol JSON") == true, "\(restart.error ?? "")")
        #expect(restart.error?.contains("hostile") == true)
        let cells = result.trajectory.filter { $0.event == .codeExecuted }
        #expect(cells.count == 3)
        #expect(cells.dropFirst().first?.stdout?.contains("True [\"Error: the host's answer could not be decoded (broken line)\"") == true)
    }
}
