import Foundation
import ModelSimulator
import Testing

/// The real `rlm mcp` binary spoken to in raw JSON-RPC: cancelling a call, closing stdin, configuration
/// errors, stdout holding nothing but the protocol, and an unprivileged user.
@Suite(.serialized) struct MCPServerTests {
    /// A root model whose code starts a helper process and then asks the sub model forever, one slow call at a time.
    static func startEndlessWorker(helper: String) async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" { return SimulatedReply(text: "partial", delay: .milliseconds(50)) }
            return SimulatedReply(text: replBlock("""
                import subprocess
                helper = subprocess.Popen(['sleep', '\(helper)'])
                answers = [llm_query('part %d' % i) for i in range(100000)]
                """))
        }
    }

    static func startSession(_ server: ModelSimulator, in folder: URL, extra: [String: String] = [:]) throws -> MCPStdioSession {
        try MCPStdioSession(command: [CLI.binary], arguments: ["mcp", "--sub-model", "sub", "--no-log"],
                            environment: MCPPythonClientTests.environment(baseURL: server.baseURL).merging(extra) { $1 },
                            workingDirectory: folder.path)
    }

    /// Waits until neither the REPL of `pid` (its folder carries the host's pid) nor the helper runs, then
    /// checks that no model request comes in afterwards.
    static func expectEverythingStopped(pid: Int32, helper: String, server: ModelSimulator) async throws {
        for _ in 0..<300 {
            if CLI.processes(matching: "rlm-\(pid)-").isEmpty && CLI.processes(matching: "sleep \(helper)").isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(CLI.processes(matching: "rlm-\(pid)-").isEmpty)
        #expect(CLI.processes(matching: "sleep \(helper)").isEmpty)
        // A request already on the wire when the run stopped may still be counted: let those land first.
        try await Task.sleep(for: .seconds(1))
        let requests = server.requestCount
        try await Task.sleep(for: .seconds(1))
        #expect(server.requestCount == requests, "model requests went on after the run was stopped")
    }

    /// Starts `rlm mcp`, calls rlm_ask as request 1 on a model that never finishes, and runs `body` once
    /// sub-calls are under way.
    static func withRunningCall(helper: String, _ body: (MCPStdioSession, ModelSimulator) async throws -> Void) async throws {
        let server = try await startEndlessWorker(helper: helper)
        defer { Task { await server.shutdown() } }
        try await MCPPythonClientTests.withFolder { folder in
            let session = try startSession(server, in: folder)
            try await session.initialize()
            try session.callAsk(id: 1, arguments: ["query": "summarise", "text": "some input"])
            _ = try await session.waitFor("sub-calls under way") { session in
                session.progress(of: 1).contains { ($0["message"] as? String)?.hasSuffix(": sub-call finished") == true } ? true : nil
            }
            try await body(session, server)
        }
    }

    @Test func cancellingACallStopsItsModelCallsAndKillsItsREPL() async throws {
        try await Self.withRunningCall(helper: "7781") { session, server in
            try session.send(["jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": 1, "reason": "user stopped it"]])
            try await Self.expectEverythingStopped(pid: session.processIdentifier, helper: "7781", server: server)
            // The server is still there for the next call, and sent no response to the cancelled one.
            try session.send(["jsonrpc": "2.0", "id": 2, "method": "ping"])
            _ = try await session.response(to: 2)
            #expect(!session.messages.contains { ($0["id"] as? Int) == 1 })
            #expect(session.stray.isEmpty, "stdout held more than the protocol: \(session.stray)")
            try session.closeInput()
            let code = try await session.waitFor(seconds: 60, "exit after stdin closed") { $0.exitCode }
            #expect(code == 0, "stderr: \(session.stderr)")
        }
    }

    @Test func closingStdinStopsARunningCallAndExits() async throws {
        try await Self.withRunningCall(helper: "7782") { session, server in
            try session.closeInput()
            let code = try await session.waitFor(seconds: 60, "exit after stdin closed") { $0.exitCode }
            #expect(code == 0, "stderr: \(session.stderr)")
            try await Self.expectEverythingStopped(pid: session.processIdentifier, helper: "7782", server: server)
            #expect(session.stderr.contains("the client closed the connection"))
            // The call still got its answer: stopped, with what it had.
            let result = try #require(try await session.response(to: 1)["result"] as? [String: Any])
            #expect(result["isError"] as? Bool == true)
            #expect(["partial", "failed"].contains((result["structuredContent"] as? [String: Any])?["status"] as? String), "\(result)")
        }
    }

    @Test func everyRequestSentBeforeStdinClosedIsAnswered() async throws {
        let server = try await MCPPythonClientTests.startCodeFinder()
        defer { Task { await server.shutdown() } }
        try await MCPPythonClientTests.withFolder { folder in
            let session = try Self.startSession(server, in: folder)
            try session.send(["jsonrpc": "2.0", "id": 0, "method": "initialize", "params": [
                "protocolVersion": "2025-06-18", "capabilities": [String: Any](), "clientInfo": ["name": "script", "version": "1"],
            ]])
            try session.send(["jsonrpc": "2.0", "method": "notifications/initialized"])
            try session.send(["jsonrpc": "2.0", "id": 1, "method": "tools/list"])
            try session.callAsk(id: 2, arguments: ["query": "q", "paths": ["../elsewhere"]])
            try session.closeInput()
            let code = try await session.waitFor(seconds: 60, "exit after stdin closed") { $0.exitCode }
            #expect(code == 0)
            for id in 0...2 {
                #expect(session.messages.contains { ($0["id"] as? Int) == id }, "no response to \(id); stderr: \(session.stderr)")
            }
        }
    }

    @Test func argumentAndConfigurationProblemsAreToolErrorsWithAFix() async throws {
        let server = try await MCPPythonClientTests.startCodeFinder()
        defer { Task { await server.shutdown() } }
        try await MCPPythonClientTests.withFolder { folder in
            let session = try Self.startSession(server, in: folder)
            try await session.initialize()
            try session.callAsk(id: 1, arguments: ["query": "q"])
            try session.callAsk(id: 2, arguments: ["query": "q", "text": "t", "paths": ["a"]])
            try session.callAsk(id: 3, arguments: ["query": "q", "paths": ["missing.txt"]])
            try session.callAsk(id: 4, arguments: ["query": "q", "paths": ["/etc/hostname"]])
            try session.callAsk(id: 5, arguments: ["question": "q", "text": "t"])
            let expected = [1: "Pass `paths`", 2: "Pass one of them", 3: "does not exist", 4: "--allow-root", 5: "unknown argument `question`"]
            for (id, words) in expected {
                let result = try #require(try await session.response(to: id)["result"] as? [String: Any])
                #expect(result["isError"] as? Bool == true)
                let text = ((result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
                #expect(text.contains(words), "call \(id): \(text)")
                #expect((result["structuredContent"] as? [String: Any])?["status"] as? String == "failed")
            }
            try session.closeInput()
            _ = try await session.waitFor(seconds: 60, "exit") { $0.exitCode }
        }
        #expect(server.requestCount == 0)

        // An endpoint that cannot be used: the server still starts, and each call says why and what to do.
        try await MCPPythonClientTests.withFolder { folder in
            let session = try Self.startSession(server, in: folder, extra: ["RLM_PROVIDER": "bogus"])
            try await session.initialize()
            try session.callAsk(id: 1, arguments: ["query": "q", "text": "t"])
            let result = try #require(try await session.response(to: 1)["result"] as? [String: Any])
            #expect(result["isError"] as? Bool == true)
            let text = ((result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(text.contains("no usable model") && text.contains("bogus") && text.contains("restart"), "\(text)")
            #expect(session.stderr.contains("bogus"))
            try session.closeInput()
            _ = try await session.waitFor(seconds: 60, "exit") { $0.exitCode }
        }
    }

    @Test func anUnprivilegedUserCanAskAboutAFile() async throws {
        guard let workspace = try NonRootUserTests.workspace() else { return }
        defer { workspace.remove() }
        let (python, binary, folder) = (workspace.python, workspace.binary, workspace.folder)
        try "the launch code is NOBODY-65 today\n".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: folder.appendingPathComponent("notes.txt").path)
        let server = try await MCPPythonClientTests.startCodeFinder()
        defer { Task { await server.shutdown() } }
        let session = try MCPStdioSession(
            command: NonRootUserTests.asUser.isEmpty ? [binary.path] : NonRootUserTests.asUser + [binary.path],
            arguments: ["mcp", "--sub-model", "sub", "--no-log"],
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "XDG_CACHE_HOME": "/tmp", "XDG_CONFIG_HOME": "/tmp",
                          "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root", "RLM_PYTHON": python],
            workingDirectory: folder.path)
        try await session.initialize()
        try session.callAsk(id: 1, arguments: ["query": "What is the launch code?", "paths": ["notes.txt"]])
        let result = try #require(try await session.response(to: 1)["result"] as? [String: Any], "stderr: \(session.stderr)")
        let structured = result["structuredContent"] as? [String: Any]
        #expect(structured?["answer"] as? String == "NOBODY-65", "\(result)\nstderr: \(session.stderr)")
        try session.closeInput()
        let code = try await session.waitFor(seconds: 60, "exit") { $0.exitCode }
        #expect(code == 0)
    }
}
