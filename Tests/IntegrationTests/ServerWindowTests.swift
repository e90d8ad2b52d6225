import Foundation
import RLMTesting
import Synchronization
import Testing

/// `rlm ask` against local servers that tell their context window: the window is said on stderr and sizes what
/// the root model is told and shown.
@Suite(.serialized) struct ServerWindowTests {
    @Test func aLlamaCppWindowSizesTheRun() async throws {
        let systemPrompt = Mutex("")
        let server = try await ModelSimulator.start(models: ["local"], kind: .llamaCpp(totalContext: 16_384, slots: 4)) { request in
            if request.assistantTurns == 0 {
                systemPrompt.withLock { $0 = request.systemText }
                return SimulatedReply(text: replBlock("print('z' * 50_000)"))
            }
            return SimulatedReply(text: replBlock("FINAL('ok')"))
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "context")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-window-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: log) }
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--log", log.path],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "local"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("root model window: 4,096 tokens (llama.cpp GET /props"))
        // (4,096 − 1,024) × 3 characters per sub-call; 2,048 characters of output per block.
        #expect(systemPrompt.withLock { $0 }.contains("One prompt can hold about 9216 characters"))
        #expect(systemPrompt.withLock { $0 }.contains("cut to about 2048 characters each"))
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(output.contains("\"event\":\"model_windows\""))
    }

    @Test func anUnknownServerGetsTheConservativeDefault() async throws {
        let server = try await ModelSimulator.start(models: ["qwen3-8b"]) { _ in SimulatedReply(text: replBlock("FINAL('ok')")) }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "context")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "qwen3-8b"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("root model window: 8,192 tokens (default for a model whose window is unknown)"))
    }
}
