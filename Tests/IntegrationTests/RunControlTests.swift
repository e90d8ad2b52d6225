import Foundation
import RLMTesting
import Synchronization
import Testing

/// Cancellation, limits, providers and the config file through the real `rlm` binary.
@Suite(.serialized) struct RunControlTests {
    @Test func ctrlCStopsEverythingAndPrintsThePartialAnswer() async throws {
        let server = try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" { return SimulatedReply(text: "slow", delay: .seconds(30)) }
            return SimulatedReply(text: "Working on it: counting first.\n" + replBlock("""
                import subprocess, time
                helper = subprocess.Popen(['sleep', '777'])
                results = llm_query_batched(['a', 'b', 'c'])
                """))
        }
        defer { Task { await server.shutdown() } }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-cancel-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: log) }
        let file = try TemporaryFile(contents: "context")
        let (run, pid) = try await CLI.runInterrupted(
            ["ask", "q", "--context", file.path, "--sub-model", "sub", "--log", log.path],
            environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"],
            when: { server.requestCount >= 4 })
        #expect(run.exitCode == 1, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("Working on it: counting first."))
        #expect(run.stderr.contains("cancelled"))
        let events = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        let last = try JSONSerialization.jsonObject(with: Data(events.last!.utf8)) as! [String: Any]
        #expect(last["event"] as? String == "run_finished")
        #expect(last["error"] as? String == "cancelled")
        try await Task.sleep(for: .milliseconds(500))
        // No orphan: neither the REPL (its folder carries the host's pid) nor what it started.
        #expect(CLI.processes(matching: "rlm-\(pid)-").isEmpty)
        #expect(CLI.processes(matching: "sleep 777").isEmpty)
    }

    @Test func jsonNamesTheLimitThatStoppedTheRun() async throws {
        // 45 s: a clean-clone CI run on a loaded machine spent 20 s before the first reply arrived.
        let server = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: "Taking a nap.\n" + replBlock("import time\ntime.sleep(120)"))
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "context")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--json", "--timeout", "45", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"])
        #expect(run.exitCode == 1)
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        #expect(summary["status"] as? String == "partial")
        #expect(summary["stop_reason"] as? String == "timeout")
        #expect(summary["answer"] as? String == "Taking a nap.")
    }

    @Test func anthropicProviderEndToEnd() async throws {
        let server = try await ModelSimulator.start(models: ["claude-test"]) { request in
            guard request.isAnthropic else { return .failure(status: 400, message: "expected the Messages API") }
            return SimulatedReply(text: request.assistantTurns == 0 ? replBlock("n = len(context)") : replBlock("FINAL(n)"),
                                  promptTokens: 50, completionTokens: 5)
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "twelve chars")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--provider", "anthropic", "--model", "claude-test",
                                     "--base-url", "http://127.0.0.1:\(server.port)", "--json", "--stream", "--no-log"],
                                    environment: ["ANTHROPIC_API_KEY": "sk-ant-test-key"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        #expect(summary["answer"] as? String == "12")
        let usage = summary["usage"] as! [String: [String: Any]]
        #expect(usage["claude-test"]?["input_tokens"] as? Int == 100)
    }

    @Test func configFileSetsTheModelAndExtendsThePriceTable() async throws {
        let server = try await ModelSimulator.start(models: ["a", "b"]) { _ in
            SimulatedReply(text: replBlock("FINAL('priced')"), promptTokens: 1_000_000, completionTokens: 0)
        }
        defer { Task { await server.shutdown() } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("rlm.toml")
        try """
        # test configuration
        base_url = "\(server.baseURL)"
        model = "local-model"   # overridden by nothing

        [prices."local-model"]
        input = 0.5
        output = 2.0
        """.write(to: config, atomically: true, encoding: .utf8)
        let file = try TemporaryFile(contents: "context")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--json", "--max-cost", "5", "--no-log"],
                                    environment: ["RLM_CONFIG": config.path])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        #expect(summary["answer"] as? String == "priced")
        #expect(summary["cost_usd"] as? Double == 0.5)

        try "model = \"unpriced-model\"\nbase_url = \"\(server.baseURL)\"\n".write(to: config, atomically: true, encoding: .utf8)
        let refused = try await CLI.run(["ask", "q", "--context", file.path, "--max-cost", "5", "--no-log"],
                                        environment: ["RLM_CONFIG": config.path])
        #expect(refused.exitCode == 2)
        #expect(refused.stderr.contains("'unpriced-model' has none"))
        #expect(refused.stderr.contains("[prices.\"unpriced-model\"]"))

        try "model = 3 4\n".write(to: config, atomically: true, encoding: .utf8)
        let broken = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"], environment: ["RLM_CONFIG": config.path])
        #expect(broken.exitCode == 2)
        #expect(broken.stderr.contains("rlm.toml:1"))
    }
}
