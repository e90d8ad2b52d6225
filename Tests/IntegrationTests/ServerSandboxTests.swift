import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm serve` and `rlm mcp` run code at `strict` unless told otherwise, and refuse to start, before listening,
/// where strict cannot work; `rlm ask` falls back with a warning. Machines without bubblewrap, or whose kernel
/// refuses user namespaces as Ubuntu 24.04's AppArmor does, are made with bubblewrap around the real binary.
@Suite(.serialized) struct ServerSandboxTests {
    /// How the machine around `rlm` is changed.
    enum Machine {
        /// /usr/bin/bwrap is not there (nor /bin/bwrap, its merged-/usr alias).
        case withoutBubblewrap
        /// New user namespaces are refused, and kernel.apparmor_restrict_unprivileged_userns reads 1.
        case userNamespacesRefusedByAppArmor
        /// New user namespaces are refused, and no sysctl says why (a container's seccomp profile, say).
        case userNamespacesRefused
    }

    /// Runs `rlm ARGS` on `machine` to its end; `timeLimit` stops a server that did start.
    static func run(on machine: Machine, _ arguments: [String], environment: [String: String] = [:]) async throws -> CLI.Run {
        var wrapper = ["--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--die-with-parent"]
        var sysctl: URL?
        switch machine {
        case .withoutBubblewrap:
            wrapper += ["--ro-bind", "/dev/null", "/usr/bin/bwrap"]
        case .userNamespacesRefusedByAppArmor:
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-apparmor-\(UUID().uuidString.prefix(8))")
            try "1\n".write(to: file, atomically: true, encoding: .utf8)
            sysctl = file
            // Over an empty /proc/sys/kernel: the sysctl, and the two files bubblewrap reads there.
            wrapper = ["--unshare-user", "--disable-userns"] + wrapper
                + ["--tmpfs", "/proc/sys/kernel", "--ro-bind", file.path, "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"]
                + ["overflowuid", "overflowgid"].flatMap { ["--ro-bind", "/proc/sys/kernel/\($0)", "/proc/sys/kernel/\($0)"] }
        case .userNamespacesRefused:
            wrapper = ["--unshare-user", "--disable-userns"] + wrapper
        }
        defer { sysctl.map { try? FileManager.default.removeItem(at: $0) } }
        let bwrap = try #require(["/usr/bin/bwrap", "/bin/bwrap"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                 "these tests build their machines with bubblewrap: apt-get install bubblewrap")
        let result = try await Subprocess.run(
            .path(FilePath(bwrap)), arguments: Arguments(wrapper + ["--", CLI.binary] + arguments),
            environment: .custom(CLI.environment(environment)),
            input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        return CLI.Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }

    static let endpoint = ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "root-model"]

    @Test(.timeLimit(.minutes(1)))
    func serveWithoutBubblewrapExitsBeforeListening() async throws {
        let run = try await Self.run(on: .withoutBubblewrap, ["serve", "--port", String(Serve.freePort()), "--no-log"],
                                     environment: Self.endpoint)
        #expect(run.exitCode == 2, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("bubblewrap (bwrap) is not installed"), "\(run.stderr)")
        #expect(run.stderr.contains("--sandbox basic"), "\(run.stderr)")
        #expect(!run.stderr.contains("listening on"), "\(run.stderr)")
    }

    @Test(.timeLimit(.minutes(1)))
    func mcpWithoutBubblewrapExitsBeforeServing() async throws {
        let run = try await Self.run(on: .withoutBubblewrap, ["mcp", "--no-log"], environment: Self.endpoint)
        #expect(run.exitCode == 2, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("rlm mcp runs the model's code only in the strict sandbox"), "\(run.stderr)")
        #expect(run.stderr.contains("bubblewrap (bwrap) is not installed") && run.stderr.contains("--sandbox basic"), "\(run.stderr)")
        #expect(run.stdout.isEmpty, "stdout: \(run.stdout)")
    }

    @Test(.timeLimit(.minutes(1)))
    func serveWhereAppArmorRefusesUserNamespacesNamesTheSysctl() async throws {
        let run = try await Self.run(on: .userNamespacesRefusedByAppArmor,
                                     ["serve", "--port", String(Serve.freePort()), "--no-log"], environment: Self.endpoint)
        #expect(run.exitCode == 2, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("kernel.apparmor_restrict_unprivileged_userns"), "\(run.stderr)")
        #expect(run.stderr.contains("--sandbox basic"), "\(run.stderr)")
        #expect(!run.stderr.contains("listening on"), "\(run.stderr)")
    }

    @Test(.timeLimit(.minutes(1)))
    func mcpWhereUserNamespacesAreRefusedSaysWhereToLook() async throws {
        let run = try await Self.run(on: .userNamespacesRefused, ["mcp", "--no-log"], environment: Self.endpoint)
        #expect(run.exitCode == 2, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("user namespaces are probably refused here"), "\(run.stderr)")
        #expect(run.stderr.contains("kernel.apparmor_restrict_unprivileged_userns") && run.stderr.contains("--sandbox basic"), "\(run.stderr)")
    }

    @Test(.timeLimit(.minutes(1)))
    func serveRunsAtBasicOnlyWhenAskedTo() async throws {
        // Given explicitly, basic starts even without bubblewrap: the server is stopped by the time limit of the
        // run, so here it is started on a bad port instead, which fails after the sandbox check.
        let run = try await Self.run(on: .withoutBubblewrap, ["serve", "--host", "192.0.2.1", "--port", String(Serve.freePort()),
                                                              "--no-auth", "--sandbox", "basic", "--no-log"],
                                     environment: Self.endpoint)
        #expect(!run.stderr.contains("bubblewrap (bwrap) is not installed"), "\(run.stderr)")
        #expect(run.stderr.contains("the server stopped"), "\(run.stderr)")
    }

    @Test(.timeLimit(.minutes(2)))
    func askWithoutBubblewrapFallsBackWithAWarning() async throws {
        let server = try await ModelSimulator.start(models: ["root-model"]) { _ in SimulatedReply(text: replBlock("FINAL('done')")) }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(named: "input.txt", contents: "some input")
        let run = try await Self.run(on: .withoutBubblewrap, ["ask", "q", "--context", file.path, "--no-log"],
                                     environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "done\n")
        #expect(run.stderr.contains("WARNING: bubblewrap (bwrap) is not installed; the REPL falls back to --sandbox basic"), "\(run.stderr)")
    }

    @Test(.timeLimit(.minutes(2)))
    func serveStartsAtStrictByDefaultAndEachResponseSaysSo() async throws {
        let server = try await ModelSimulator.start(models: ["root-model"]) { _ in SimulatedReply(text: replBlock("FINAL('done')")) }
        defer { Task { await server.shutdown() } }
        let (reply, run) = try await Serve.with(["--no-log"], environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"]) { handle in
            try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "some text"))
        }
        #expect(run.stderr.contains("; sandbox strict; route "), "\(run.stderr)")
        #expect(reply.status == 200, "\(reply.body)")
        #expect((reply.json["rlm"] as? [String: Any])?["sandbox"] as? String == "strict", "\(reply.body)")
    }

    @Test(.timeLimit(.minutes(2)))
    func mcpStartsAtStrictByDefaultAndEachResultSaysSo() async throws {
        let server = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL('done')")) }
        defer { Task { await server.shutdown() } }
        try await MCPPythonClientTests.withFolder { folder in
            let session = try MCPStdioSession(command: [CLI.binary], arguments: ["mcp", "--no-log"],
                                              environment: MCPPythonClientTests.environment(baseURL: server.baseURL),
                                              workingDirectory: folder.path)
            try await session.initialize()
            try session.callAsk(id: 1, arguments: ["query": "q", "text": "some input"])
            let result = try #require(try await session.response(to: 1)["result"] as? [String: Any], "stderr: \(session.stderr)")
            #expect((result["structuredContent"] as? [String: Any])?["sandbox"] as? String == "strict", "\(result)")
            #expect(session.stderr.contains("the model's code runs at sandbox strict"), "\(session.stderr)")
            try session.closeInput()
            _ = try await session.waitFor(seconds: 60, "exit") { $0.exitCode }
        }
    }
}
