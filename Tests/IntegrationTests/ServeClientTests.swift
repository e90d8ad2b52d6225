import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm serve` driven by the official `openai` Python client: models list, plain and streamed completions with
/// the progress extension, a wrong token refused.
@Suite struct ServeClientTests {
    static let findRoom = replBlock("import re\nFINAL(re.search(r'room \\d+', context).group(0))")

    @Test func officialOpenAIClientUsesTheServer() async throws {
        let python = try await PythonClients.interpreter()
        let fixture = PythonClients.repositoryRoot.appendingPathComponent("Tests/Fixtures/openai_serve_client.py").path
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: Self.findRoom, promptTokens: 100, completionTokens: 10)
        }
        defer { Task { await model.shutdown() } }
        let token = "serve-test-token-\(UUID().uuidString.prefix(6))"
        let (client, run) = try await Serve.with(
            ["--auth-token-env", "RLM_SERVE_TOKEN", "--no-log"],
            environment: ["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root", "RLM_SERVE_TOKEN": token]
        ) { handle in
            let result = try await Subprocess.run(
                .path(FilePath(python)), arguments: [fixture, handle.baseURL + "/v1", token, "rlm"],
                output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
            return (result.standardOutput, result.standardError)
        }
        #expect(run.exitCode == 0, "rlm serve stderr: \(run.stderr)")
        #expect(!run.stderr.contains(token))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(client.0.utf8)) as? [String: Any],
                                  "client stdout: \(client.0)\nclient stderr: \(client.1)")
        #expect(report["models"] as? [String] == ["rlm"])
        // The context is the conversation before the question: the system message holds the room.
        #expect(report["plain_answer"] as? String == "room 42")
        #expect(report["plain_finish_reason"] as? String == "stop")
        #expect(report["plain_total_tokens"] as? Int == 110)
        #expect(report["plain_rlm_status"] as? String == "answered")
        // The extension field `context` carries it in the streamed request.
        #expect(report["stream_answer"] as? String == "room 42")
        #expect(report["stream_finish_reason"] as? String == "stop")
        #expect(report["stream_total_tokens"] as? Int == 110)
        let progress = report["stream_progress_events"] as? [String] ?? []
        #expect(progress.contains("iteration_started"), "progress: \(progress)")
        #expect(progress.contains("code_executed"), "progress: \(progress)")
        #expect(report["wrong_token"] as? String == "refused 401")
    }

    /// When the suite runs as root, the server runs as uid 65534 and still answers from a file under its root.
    @Test func servesAsAnOrdinaryUser() async throws {
        guard let workspace = try NonRootUserTests.workspace() else { return }
        defer { workspace.remove() }
        let (python, binary, folder) = (workspace.python, workspace.binary, workspace.folder)
        let files = folder.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try "Booked: room 8.\n".write(to: files.appendingPathComponent("booking.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: files.appendingPathComponent("booking.txt").path)
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: Self.findRoom) }
        defer { Task { await model.shutdown() } }
        let (reply, run) = try await Serve.with(
            ["--files-root", files.path, "--python", python, "--no-log"],
            environment: ["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root", "HOME": folder.path,
                          "XDG_CACHE_HOME": folder.appendingPathComponent("cache").path],
            binary: binary.path, prefix: NonRootUserTests.asUser
        ) { handle in
            try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("Which room?", paths: ["booking.txt"]))
        }
        #expect(reply.status == 200, "body: \(reply.body)\nstderr: \(run.stderr)")
        let choices = reply.json["choices"] as? [[String: Any]]
        #expect((choices?.first?["message"] as? [String: Any])?["content"] as? String == "room 8")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
    }
}
