import Foundation
import ModelSimulator
import Testing

/// `rlm serve --drain-timeout`: runs still going when the drain time is up are cancelled, and the server exits.
@Suite struct ServeDrainTimeoutTests {
    /// Before, the wait for the runs to end ignored cancellation, so the drain timer could not stop it: the
    /// server kept waiting for the run (here a model reply due in 90 s) whatever `--drain-timeout` said.
    @Test(.timeLimit(.minutes(3))) func runsStillGoingWhenTheDrainTimeoutIsUpAreCancelled() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("FINAL('too late')"), delay: .seconds(90))
        }
        defer { Task { await model.shutdown() } }
        let (outcome, run) = try await Serve.with(
            ["--max-concurrent-runs", "1", "--drain-timeout", "1", "--no-log"],
            environment: ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL]
        ) { handle in
            let running = Task { try? await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "c")) }
            for _ in 0..<1_200 where model.requestCount < 1 { try await Task.sleep(for: .milliseconds(100)) }
            let signalled = ContinuousClock.now
            handle.signal(SIGTERM)
            // Gone well before the model's reply is due.
            for _ in 0..<600 where !Serve.isGone(handle.pid) { try await Task.sleep(for: .milliseconds(50)) }
            let exited = ContinuousClock.now - signalled
            let reply = await running.value
            return (exited, Serve.isGone(handle.pid), reply?.body ?? "")
        }
        #expect(outcome.1, "rlm serve was still running \(outcome.0) after SIGTERM with --drain-timeout 1")
        #expect(!outcome.2.contains("too late"))
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("draining"))
    }
}
