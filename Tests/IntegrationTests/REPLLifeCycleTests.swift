import Foundation
import RLMTesting
import Subprocess
import Synchronization
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The REPL as `rlm ask` users meet it: code that leaves threads running or attacks the host's channel never
/// holds up the answer, the exit, or the host's memory.
@Suite(.serialized) struct REPLLifeCycleTests {
    struct Outcome {
        var exitCode: Int32
        var stdout: String
        var stderr: String
        /// Peak resident memory of the `rlm` process (VmHWM), in bytes.
        var peakRSSBytes: Int
        var seconds: Double
        /// What the root model was sent on its second turn.
        var secondTurn: String
    }

    /// Runs `rlm ask` whose scripted root model sends `code` on its first turn and `FINAL('alive')` after.
    func ask(_ code: String, sandbox: String = "basic", face: [String] = []) async throws -> Outcome {
        let secondTurn = Mutex("")
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            if request.assistantTurns == 0 { return SimulatedReply(text: replBlock(code)) }
            secondTurn.withLock { $0 = $0.isEmpty ? request.lastUserText : $0 }
            return SimulatedReply(text: replBlock("FINAL('alive')"))
        }
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(contents: "harmless context")
        let started = ContinuousClock.now
        let peak = Mutex(0)
        let result = try await Subprocess.run(
            .path(FilePath(CLI.binary)),
            arguments: Arguments(["ask", "q", "--context", context.path, "--sandbox", sandbox, "--no-log"]),
            environment: .custom(CLI.environment(["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root", "RLM_API_KEY": "k"])),
            input: .none, output: .string(limit: 64 << 20), error: .string(limit: 1 << 20)
        ) { execution in
            // Samples the host's high-water mark until it exits.
            let pid = execution.processIdentifier.value
            while let value = Self.highWaterMark(of: pid) {
                peak.withLock { $0 = max($0, value) }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        return Outcome(exitCode: code, stdout: result.standardOutput, stderr: result.standardError,
                       peakRSSBytes: peak.withLock { $0 }, seconds: (ContinuousClock.now - started).seconds,
                       secondTurn: secondTurn.withLock { $0 })
    }

    /// VmHWM of a live process, nil once it has exited (or is a zombie).
    static func highWaterMark(of pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    @Test(.timeLimit(.minutes(1))) func anAnswerIsPrintedAndRLMExitsWhileANonDaemonThreadSleeps() async throws {
        // The case: before, the driver's exit joined the 300 s thread and no answer came for minutes.
        let outcome = try await ask("""
            import threading, time
            threading.Thread(target=time.sleep, args=(300,)).start()
            FINAL('done')
            """)
        #expect(outcome.exitCode == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "done")
        #expect(outcome.seconds < 45, "the REPL is stopped within its shutdown grace, not when the thread ends")
    }

    @Test(.timeLimit(.minutes(1))) func threadsThatIgnoreSignalsAndChildProcessesDoNotHoldTheExit() async throws {
        // Worse than a sleeping thread: a busy non-daemon thread, SIGTERM ignored, and a child process that sleeps.
        let outcome = try await ask("""
            import signal, subprocess, threading
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            subprocess.Popen(['sleep', '300'])
            def spin():
                while True:
                    pass
            threading.Thread(target=spin).start()
            FINAL('done')
            """)
        #expect(outcome.exitCode == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "done")
        #expect(outcome.seconds < 45)
    }

    @Test(.timeLimit(.minutes(2))) func aGigabyteWithoutANewlineOnTheDriverSocketGetsTheREPLReplaced() async throws {
        // The attack, at 1 GiB: the code finds the driver's socket and writes to it with no newline.
        // Before, the host buffered it all (6.3 GB for 3 GiB) and the run hung; now the host stops reading after
        // one line's limit, kills the interpreter, starts a fresh one, tells the model, and the run answers.
        let outcome = try await ask("""
            import gc
            channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel' and hasattr(o, 'sock'))
            chunk = b'x' * (1 << 20)
            with channel.write_lock:
                for _ in range(1024):
                    channel.sock.sendall(chunk)
            print('the host read it all')
            """)
        print("peak RSS of rlm during a 1 GiB no-newline write: \(outcome.peakRSSBytes >> 20) MiB")
        #expect(outcome.exitCode == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "alive")
        #expect(outcome.secondTurn.contains("hostile"), "the model is told: \(outcome.secondTurn)")
        #expect(outcome.secondTurn.contains("without a newline"))
        #expect(!outcome.secondTurn.contains("the host read it all"))
        #expect(outcome.peakRSSBytes > 0 && outcome.peakRSSBytes < 400 << 20,
                "the host's memory stays bounded: \(outcome.peakRSSBytes >> 20) MiB")
    }

    @Test(.timeLimit(.minutes(1))) func aMalformedMessageGetsTheREPLReplacedAndTheRunGoesOn() async throws {
        let outcome = try await ask("""
            import gc
            channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel' and hasattr(o, 'sock'))
            channel.sock.sendall(b'this is not json\\n')
            import time
            time.sleep(30)
            """)
        #expect(outcome.exitCode == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "alive")
        #expect(outcome.secondTurn.contains("not valid protocol JSON"), "\(outcome.secondTurn)")
    }

    @Test(.timeLimit(.minutes(1))) func aLargeAnswerTravelsInPartsWhole() async throws {
        // 5 MB with every kind of character JSON escapes: longer than one line may be, so it is sent in parts.
        let outcome = try await ask("""
            piece = 'a"b\\\\c\\u00e9\\U0001F600\\n\\t' * 8
            FINAL((piece * (5_000_000 // len(piece)))[:5_000_000])
            """)
        #expect(outcome.exitCode == 0, "stderr: \(outcome.stderr)")
        let piece = String(repeating: "a\"b\\c\u{e9}\u{1F600}\n\t", count: 8)
        let expected = String(String(repeating: piece, count: 5_000_000 / piece.count).prefix(5_000_000))
        #expect(outcome.stdout.count >= expected.count && outcome.stdout.hasPrefix(expected))
    }

    static let leftRunning = """
        import threading, time
        threading.Thread(target=time.sleep, args=(300,)).start()
        FINAL('done')
        """

    @Test(.timeLimit(.minutes(1))) func rlmChatAnswersAndExitsWhileANonDaemonThreadSleeps() async throws {
        let server = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock(Self.leftRunning)) }
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(contents: "harmless context")
        let run = try await CLI.run(["chat", "--context", context.path, "--no-log", "--sandbox", "basic"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"],
                                    stdin: "Go?\n")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "done\n")
    }

    @Test(.timeLimit(.minutes(2))) func rlmServeAnswersAndStopsWhileANonDaemonThreadSleeps() async throws {
        let server = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock(Self.leftRunning)) }
        defer { Task { await server.shutdown() } }
        let (reply, run) = try await Serve.with(["--sandbox", "basic", "--no-log"],
                                                environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"]) { handle in
            try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("Go?", context: "harmless"))
        }
        #expect(reply.status == 200, "\(reply.body)")
        #expect(reply.body.contains("\"done\""))
        #expect(run.exitCode == 0, "SIGTERM stops the server without waiting on the thread: \(run.stderr)")
    }
}
