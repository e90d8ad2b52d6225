import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm mcp` driven by the official `mcp` Python SDK client (Tests/Fixtures/mcp_client.py), a client written by
/// others, against a model server started here.
@Suite(.serialized) struct MCPPythonClientTests {
    static let fixture = PythonClients.repositoryRoot.appendingPathComponent("Tests/Fixtures/mcp_client.py").path

    /// A scripted root model that finds the line naming a code and asks the sub model about it, then answers.
    static func startCodeFinder() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" {
                let code = request.lastUserText.firstMatch(of: /code is ([A-Z]+-[0-9]+)/)?.1
                return SimulatedReply(text: code.map(String.init) ?? "none", promptTokens: 40, completionTokens: 4)
            }
            if request.assistantTurns == 0 {
                return SimulatedReply(text: replBlock("""
                    text = context if isinstance(context, str) else '\\n'.join(context.values())
                    hits = [line for line in text.splitlines() if 'code is' in line]
                    print(len(hits), 'hits')
                    found = llm_query('Which code does this line give? ' + hits[0])
                    print('sub says', found)
                    """), promptTokens: 500, completionTokens: 60)
            }
            return SimulatedReply(text: replBlock("FINAL(found)"), promptTokens: 700, completionTokens: 10)
        }
    }

    /// A clean environment for `rlm` with the model server's address.
    static func environment(baseURL: String) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        let temporary = FileManager.default.temporaryDirectory
        var values = ["PATH": inherited["PATH"] ?? "/usr/bin:/bin", "HOME": inherited["HOME"] ?? "/tmp",
                      "XDG_CACHE_HOME": temporary.appendingPathComponent("rlm-test-cache").path,
                      "XDG_CONFIG_HOME": temporary.appendingPathComponent("rlm-test-no-config").path,
                      "RLM_BASE_URL": baseURL, "RLM_MODEL": "root"]
        if let python = inherited["RLM_PYTHON"] { values["RLM_PYTHON"] = python }
        return values
    }

    /// A fresh folder that is removed when `body` ends.
    static func withFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-mcp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder.resolvingSymlinksInPath())
    }

    @Test func listsTheToolAnswersAboutAFileAndReportsProgress() async throws {
        let python = try await PythonClients.interpreter()
        let server = try await Self.startCodeFinder()
        defer { Task { await server.shutdown() } }
        try await Self.withFolder { folder in
            let project = folder.appendingPathComponent("project")
            try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
            var lines = (0..<2_000).map { "log line \($0): nothing to see" }
            lines.insert("the launch code is AZURE-42 for today", at: 1_234)
            try lines.joined(separator: "\n").write(to: project.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
            try "secret code is OUTSIDE-1".write(to: folder.appendingPathComponent("outside.txt"), atomically: true, encoding: .utf8)

            let config: [String: Any] = [
                "command": CLI.binary, "args": ["mcp", "--sub-model", "sub", "--max-iterations", "7", "--max-tokens", "100000", "--no-log"],
                "env": Self.environment(baseURL: server.baseURL), "cwd": project.path,
                "calls": [
                    ["query": "What is the launch code?", "paths": ["notes.txt"]],
                    ["query": "What is the launch code?", "text": "a note: the launch code is BLUE-7, keep it"],
                    ["query": "What is the secret code?", "paths": ["../outside.txt"]],
                ],
            ]
            let configText = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
            let run = try await Subprocess.run(
                .path(FilePath(python)), arguments: [Self.fixture, configText],
                input: .none, output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
            let stdout = run.standardOutput
            let stderr = run.standardError
            #expect(run.terminationStatus == .exited(0), "stderr: \(stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "stdout: \(stdout)\nstderr: \(stderr)")

            let tools = try #require(report["tools"] as? [[String: Any]])
            #expect(tools.map { $0["name"] as? String } == ["rlm_ask"])
            let schema = try #require(tools.first?["inputSchema"] as? [String: Any])
            let properties = try #require(schema["properties"] as? [String: Any])
            #expect(Set(properties.keys) == ["query", "paths", "text", "schema"])
            #expect(schema["required"] as? [String] == ["query"])

            let calls = try #require(report["calls"] as? [[String: Any]])
            try #require(calls.count == 3)

            // A file, by a path relative to the working directory.
            let first = try #require(calls[0]["result"] as? [String: Any])
            #expect(first["isError"] as? Bool != true, "\(first)")
            let structured = try #require(first["structuredContent"] as? [String: Any], "\(first)")
            #expect(structured["status"] as? String == "answered")
            #expect(structured["answer"] as? String == "AZURE-42")
            #expect(structured["iterations"] as? Int == 2)
            #expect(structured["sub_calls"] as? Int == 1)
            let usage = try #require(structured["total_usage"] as? [String: Any])
            #expect(usage["input_tokens"] as? Int == 1_240)
            #expect(usage["output_tokens"] as? Int == 74)
            let limits = try #require(structured["limits"] as? [String: Any])
            #expect(limits["max_iterations"] as? Int == 7)
            #expect(limits["max_tokens"] as? Int == 100_000)
            #expect(limits.keys.contains("max_cost_usd") && limits.keys.contains("timeout_seconds"))
            // The scripted models have no price: the cost is unknown, and said to be.
            #expect(structured["cost_usd"] is NSNull)
            let text = ((first["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(text.hasPrefix("AZURE-42"))
            #expect(text.contains("2 turn(s), 1 sub-call(s), 1314 tokens"))
            #expect(text.contains("limits: 7 turns, depth 1, 100000 tokens"), "\(text)")

            // Progress while it ran: increasing, naming turns, sub-calls and tokens.
            let progress = try #require(calls[0]["progress"] as? [[String: Any]])
            let values = progress.compactMap { $0["progress"] as? Double }
            #expect(values.count >= 2, "\(progress)")
            #expect(values == values.sorted() && Set(values).count == values.count)
            let last = progress.last?["message"] as? String ?? ""
            #expect(last == "turn 2/7, 1 sub-call, 1314 tokens: answer submitted", "\(progress)")

            // Text instead of paths.
            let second = try #require(calls[1]["result"] as? [String: Any])
            #expect((second["structuredContent"] as? [String: Any])?["answer"] as? String == "BLUE-7", "\(second)")

            // A path outside the working directory: a tool error naming cause and fix, and nothing read.
            let third = try #require(calls[2]["result"] as? [String: Any])
            #expect(third["isError"] as? Bool == true)
            let refusal = ((third["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(refusal.contains("outside the allowed roots"), "\(refusal)")
            #expect(refusal.contains("--allow-root"))
        }
        // Two calls of two turns and one sub-call each; the refused call asked nothing.
        #expect(server.requestCount == 6)
    }
}
