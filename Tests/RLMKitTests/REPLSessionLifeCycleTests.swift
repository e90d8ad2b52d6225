import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// The REPL session's life cycle with a real interpreter: one cell at a time, and a shutdown that never waits on
/// what the code left running.
@Suite(.serialized) struct REPLSessionLifeCycleTests {
    @Test(.timeLimit(.minutes(1))) func aSecondConcurrentExecuteIsRejectedAndTheFirstFinishes() async throws {
        // Before, the second call took the first one's place and the first waited for ever.
        try await withTestREPL { repl in
            async let first = repl.execute("import time\ntime.sleep(1)\nprint('first')")
            try await Task.sleep(for: .milliseconds(300))
            await #expect(throws: REPLError.busy) { try await repl.execute("print('second')") }
            let outcome = try await first
            #expect(outcome.stdout == "first\n")
            #expect(try await repl.execute("print('third')").stdout == "third\n", "the session goes on")
        }
    }

    @Test(.timeLimit(.minutes(1))) func theLibraryFaceReturnsWhileANonDaemonThreadSleeps() async throws {
        let started = ContinuousClock.now
        let outcome = try await runCell("""
            import threading, time
            threading.Thread(target=time.sleep, args=(300,)).start()
            FINAL('done')
            """)
        #expect(outcome.final == "done")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test(.timeLimit(.minutes(1))) func aDriverThatWillNotExitIsTerminatedAndKilled() async throws {
        // The code sabotages the driver's own exit and ignores SIGTERM: the host's deadline still stops it.
        let started = ContinuousClock.now
        let pid = try await withTestREPL { repl in
            let outcome = try await repl.execute("""
                import os, signal, time
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os._exit = lambda code: time.sleep(300)
                print(os.getpid())
                """)
            return Int32(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        let interpreter = try #require(pid)
        #expect(kill(interpreter, 0) != 0, "the interpreter is gone when withSession returns")
    }

    @Test(.timeLimit(.minutes(1))) func aProcessThatLeftTheGroupDoesNotHoldTheShutdown() async throws {
        // The code disarms the driver's own clean-up and starts a process in a session of its own, which keeps
        // the interpreter's stderr open after the process group is killed.
        let started = ContinuousClock.now
        let escaped = try await withTestREPL { repl in
            let outcome = try await repl.execute("""
                import __main__, os, subprocess, threading, time
                __main__.stop_descendants = lambda: 0
                os._exit = lambda code: time.sleep(300)
                # Started after the cell, when file descriptor 2 is the interpreter's stderr again.
                escaped = []
                threading.Timer(0.3, lambda: escaped.append(subprocess.Popen(['sleep', '300'], start_new_session=True))).start()
                """)
            #expect(!outcome.failed, "\(outcome.stderr)")
            try await Task.sleep(for: .seconds(1))
            return Int32(try await repl.execute("print(escaped[0].pid)").stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(ContinuousClock.now - started < .seconds(15))
        let pid = try #require(escaped, "the escaped process started")
        #expect(kill(pid, 0) == 0, "it outlived the interpreter, holding its stderr")
        kill(pid, SIGKILL)
    }

    @Test(.timeLimit(.minutes(1))) func aTooLargeAnswerIsRefusedInTheCellNotTheHost() async throws {
        let outcome = try await runCell("FINAL('x' * (70 << 20))", configuration: {
            var configuration = REPLConfiguration.testing
            configuration.resources.memoryMB = 2048
            return configuration
        }())
        #expect(outcome.final == nil)
        #expect(!outcome.interpreterRestarted)
        #expect(outcome.stderr.contains("over the 64 MB the REPL channel carries"), "\(outcome.stderr)")
    }
}
