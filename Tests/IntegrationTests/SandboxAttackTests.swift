import Foundation
import RLMTesting
import Synchronization
import Testing

/// Hostile code, emitted by a scripted root model, run through the real `rlm` binary in the strict sandbox.
/// Every attack must be contained: the run ends with a clear answer or message, exit code 0 or 1, and the
/// host stays up.
@Suite(.serialized) struct SandboxAttackTests {
    static let secret = "sk-attack-secret-0123456789abcdef"

    struct Outcome {
        var run: CLI.Run
        var answer: String { run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        var exfiltrationAttempts: Int
        var logText: String
    }

    /// Runs `attack` as the model's first cell; a second turn submits "alive" if the first did not submit.
    func attack(_ code: String, sandbox: String = "strict", arguments: [String] = [],
                environment: [String: String] = [:]) async throws -> Outcome {
        let exfiltration = Mutex(0)
        let script = Mutex("")
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            if request.model != "root" {
                exfiltration.withLock { $0 += 1 }
                return SimulatedReply(text: "leaked")
            }
            return SimulatedReply(text: replBlock(request.assistantTurns == 0 ? script.withLock { $0 } : "FINAL('alive')"))
        }
        // `{port}` in the attack stands for this server's port.
        script.withLock { $0 = code.replacingOccurrences(of: "{port}", with: String(server.port)) }
        defer { Task { await server.shutdown() } }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-attack-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: log) }
        var env = ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root", "RLM_API_KEY": Self.secret,
                   "OPENAI_API_KEY": Self.secret, "ANTHROPIC_API_KEY": Self.secret, "GITHUB_TOKEN": Self.secret]
        env.merge(environment) { $1 }
        let context = try TemporaryFile(contents: "harmless context")
        let run = try await CLI.run(["ask", "q", "--context", context.path, "--sandbox", sandbox, "--log", log.path] + arguments,
                                    environment: env)
        let logText = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return Outcome(run: run, exfiltrationAttempts: exfiltration.withLock { $0 }, logText: logText)
    }

    func expectContained(_ outcome: Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect([0, 1].contains(outcome.run.exitCode), "stderr: \(outcome.run.stderr)", sourceLocation: sourceLocation)
        #expect(!outcome.run.stdout.contains(Self.secret), sourceLocation: sourceLocation)
        #expect(!outcome.run.stderr.contains(Self.secret), sourceLocation: sourceLocation)
        #expect(!outcome.logText.contains(Self.secret), sourceLocation: sourceLocation)
        #expect(outcome.logText.contains("\"run_finished\""), "the log must stay complete", sourceLocation: sourceLocation)
    }

    @Test func environmentSecretsAreAbsent() async throws {
        let outcome = try await attack("import os\nFINAL(repr(sorted(os.environ.items())))")
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer.contains("PATH"))
        #expect(!outcome.answer.contains("API_KEY"))
    }

    @Test func parentEnvironmentCannotBeRead() async throws {
        let outcome = try await attack("""
            import os
            seen = []
            for pid in sorted({os.getppid(), 1, *[int(p) for p in os.listdir('/proc') if p.isdigit()]}):
                try:
                    seen.append(open('/proc/%d/environ' % pid, 'rb').read().decode('latin1'))
                except Exception as e:
                    seen.append(type(e).__name__)
            FINAL(repr(seen))
            """)
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
    }

    @Test func filesOutsideTheSandboxCannotBeRead() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".config"), withIntermediateDirectories: true)
        try "config-\(Self.secret)".write(to: home.appendingPathComponent(".config/credentials"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: home) }
        let outcome = try await attack("""
            import os
            found = {}
            for path in ['\(home.path)/.config/credentials', os.path.expanduser('~/.config/credentials'),
                         '/etc/shadow', '/etc/passwd', '/root/.bashrc', '\(#filePath)']:
                try:
                    found[path] = open(path).read()[:80]
                except Exception as e:
                    found[path] = type(e).__name__
            FINAL(repr(found))
            """, environment: ["HOME": home.path])
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer.contains("FileNotFoundError"))
        #expect(!outcome.answer.contains("config-"))
        #expect(!outcome.answer.contains("import Foundation"))
    }

    @Test func writesOutsideTheSandboxFail() async throws {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-pwned-\(UUID().uuidString)")
        let outcome = try await attack("""
            results = []
            for path in ['\(target.path)', '/etc/rlm-pwned', '/usr/rlm-pwned']:
                try:
                    open(path, 'w').write('pwned')
                    results.append('wrote ' + path)
                except Exception as e:
                    results.append(type(e).__name__)
            FINAL(repr(results))
            """)
        expectContained(outcome)
        #expect(!FileManager.default.fileExists(atPath: target.path))
        #expect(!FileManager.default.fileExists(atPath: "/etc/rlm-pwned"))
        #expect(!FileManager.default.fileExists(atPath: "/usr/rlm-pwned"))
    }

    @Test func loopbackNetworkIsUnreachable() async throws {
        let real = try await attack("""
            import socket
            results = []
            for host in ['127.0.0.1', '::1']:
                try:
                    socket.create_connection((host, {port}), timeout=3)
                    results.append('connected')
                except Exception as e:
                    results.append(type(e).__name__)
            FINAL(repr(results))
            """)
        expectContained(real)
        #expect(real.run.exitCode == 0)
        #expect(!real.answer.contains("connected"))
        #expect(real.exfiltrationAttempts == 0)
    }

    @Test func forkBombIsContained() async throws {
        let outcome = try await attack("""
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
            """, arguments: ["--cell-timeout", "3"])
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer == "alive")
        #expect(outcome.logText.contains("timed_out"))
        // Either the interrupt stopped the cell and the driver killed its children, or, on a machine too busy
        // for the driver to run within the grace period, the host killed the sandbox and started a fresh one.
        #expect(outcome.logText.contains("the cell had started") || outcome.logText.contains("interpreter_restarted"))
    }

    @Test func memoryBombHitsTheCap() async throws {
        let outcome = try await attack("""
            hoard = []
            while True:
                hoard.append(bytearray(64 * 2**20))
            """, arguments: ["--repl-memory-mb", "512"])
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer == "alive")
        #expect(outcome.logText.contains("MemoryError"))
    }

    @Test func diskFillHitsTheCap() async throws {
        let outcome = try await attack("""
            written = 0
            try:
                with open('fill.bin', 'wb') as f:
                    while True:
                        f.write(b'x' * 2**20)
                        written += 1
            except OSError as e:
                FINAL('stopped after %d MiB: %s' % (written, type(e).__name__))
            """)
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
        #expect(outcome.answer.hasPrefix("stopped after"))
    }

    @Test func infiniteLoopIsInterrupted() async throws {
        let outcome = try await attack("while True:\n    pass", arguments: ["--cell-timeout", "2"])
        expectContained(outcome)
        #expect(outcome.answer == "alive")
        #expect(outcome.logText.contains("timed_out"))
    }

    @Test func killingTheParentDoesNotReachTheHost() async throws {
        let outcome = try await attack("""
            import os, signal
            for target in (os.getppid(), 1, -1):
                try:
                    os.kill(target, signal.SIGKILL)
                except Exception:
                    pass
            FINAL('still here')
            """)
        expectContained(outcome)
        #expect(outcome.run.exitCode == 0)
        #expect(["alive", "still here"].contains(outcome.answer))
    }

    @Test func daemonsDoNotOutliveTheRun() async throws {
        let marker = String(900_000 + Int.random(in: 0..<99_999))
        let outcome = try await attack("""
            import os, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv('/bin/sleep', ['sleep', '\(marker)'])
                os._exit(0)
            time.sleep(0.5)
            FINAL('daemon started')
            """)
        expectContained(outcome)
        #expect(outcome.answer == "daemon started")
        try await Task.sleep(for: .milliseconds(500))
        #expect(CLI.processes(matching: "sleep \(marker)").isEmpty)
    }

    @Test func basicSandboxStillCapsMemoryAndHidesSecrets() async throws {
        let outcome = try await attack("""
            import os
            env = repr(sorted(os.environ.items()))
            try:
                block = bytearray(8 * 2**30)
                FINAL('allocated 8 GiB ' + env)
            except MemoryError:
                FINAL('MemoryError ' + env)
            """, sandbox: "basic", arguments: ["--repl-memory-mb", "512"])
        expectContained(outcome)
        #expect(outcome.answer.hasPrefix("MemoryError"))
    }
}
