import Foundation
import ModelSimulator
import Testing

/// `rlm serve` over time: a client that goes away, SIGTERM, and contexts reused across requests.
@Suite struct ServeLifecycleTests {
    static let environment = ["RLM_MODEL": "root"]

    @Test(arguments: [false, true])
    func clientThatHangsUpCancelsItsRun(streaming: Bool) async throws {
        let marker = "sleep \(Int.random(in: 10_000...99_999))"
        let model = try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" { return SimulatedReply(text: "slow", delay: .seconds(1)) }
            return SimulatedReply(text: replBlock("""
                import subprocess
                helper = subprocess.Popen('\(marker)'.split())
                while True:
                    llm_query_batched(['a', 'b'])
                """))
        }
        defer { Task { await model.shutdown() } }
        let (state, run) = try await Serve.with(
            ["--sub-model", "sub", "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            try await Serve.sendAndHangUp(handle, json: Serve.chat("q", context: "ctx", stream: streaming)) { model.requestCount >= 5 }
            // Wait until the run is over (at most 60 s), then watch the model for a while: nothing more may arrive.
            for _ in 0..<600 {
                let health = try await Serve.request(handle, "GET", "/healthz")
                if health.json["running"] as? String == "0" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let settled = model.requestCount
            try await Task.sleep(for: .seconds(3))
            let later = model.requestCount
            for _ in 0..<300 where !(CLI.processes(matching: marker).isEmpty && CLI.processes(matching: "rlm-\(handle.pid)-").isEmpty) {
                try await Task.sleep(for: .milliseconds(100))
            }
            let metrics = try await Serve.request(handle, "GET", "/metrics")
            return (settled, later, CLI.processes(matching: marker), CLI.processes(matching: "rlm-\(handle.pid)-"), metrics.body)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(state.0 == state.1, "model requests went on after the client left: \(state.0) then \(state.1)")
        #expect(state.2.isEmpty, "the REPL's child is still running: \(state.2)")
        #expect(state.3.isEmpty, "the REPL is still running: \(state.3)")
        #expect(state.4.contains("rlm_runs_total{status=\"cancelled\"} 1"), "\(state.4)")
    }

    @Test func sigtermDrainsRunningRequestsAndRefusesNewOnes() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("FINAL('drained')"), delay: .seconds(4))
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--max-concurrent-runs", "1", "--drain-timeout", "120", "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            let running = Task { try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "c")) }
            for _ in 0..<1_200 where model.requestCount < 1 { try await Task.sleep(for: .milliseconds(100)) }
            handle.signal(SIGTERM)
            var refused: Serve.Reply?
            for _ in 0..<600 {
                let reply = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "c"))
                if reply.status == 503 { refused = reply; break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let health = try await Serve.request(handle, "GET", "/healthz")
            return (try await running.value, refused, health)
        }
        #expect(replies.0.status == 200, "\(replies.0.body)")
        #expect(replies.0.body.contains("drained"))
        #expect(replies.1?.errorObject["code"] as? String == "server_shutting_down")
        #expect(replies.1?.headers.first(name: "Retry-After") != nil)
        #expect(replies.2.status == 503)
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("draining"))
    }

    @Test func loadedContextIsReusedBySameContent() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("FINAL(f'{len(context)}')"), promptTokens: 20, completionTokens: 5)
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--cache-mb", "16", "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            var replies: [Serve.Reply] = []
            for context in ["first context", "first context", "another", "first context"] {
                replies.append(try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: context)))
            }
            replies.append(try await Serve.request(handle, "GET", "/metrics"))
            return replies
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let cached = replies.prefix(4).map { ($0.json["rlm"] as? [String: Any])?["context_cached"] as? Bool }
        #expect(cached == [false, true, false, true], "\(replies.map(\.body))")
        let answers = replies.prefix(4).map { (($0.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String }
        #expect(answers == ["13", "13", "7", "13"])
        let metrics = replies[4].body
        #expect(metrics.contains("rlm_context_cache_hits_total 2"), "\(metrics)")
        #expect(metrics.contains("rlm_context_cache_misses_total 2"))
        #expect(metrics.contains("rlm_runs_total{status=\"answered\"} 4"))
        // The metrics add up the `usage` of every answer (the whole tree of each run).
        let usages = replies.prefix(4).map { $0.json["usage"] as? [String: Any] ?? [:] }
        let input = usages.reduce(0) { $0 + ($1["prompt_tokens"] as? Int ?? 0) }
        let output = usages.reduce(0) { $0 + ($1["completion_tokens"] as? Int ?? 0) }
        #expect(input >= 80 && output >= 20)
        #expect(metrics.contains("rlm_tokens_total{direction=\"input\"} \(input)"), "\(metrics)")
        #expect(metrics.contains("rlm_tokens_total{direction=\"output\"} \(output)"))
        #expect(metrics.contains("rlm_run_duration_seconds_count 4"))
        #expect(metrics.contains("rlm_subcalls_total 0"))
    }

    @Test func cacheStaysWithinItsMemoryBound() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL(len(context))")) }
        defer { Task { await model.shutdown() } }
        let first = String(repeating: "a", count: 600_000)
        let second = String(repeating: "b", count: 600_000)
        let (replies, run) = try await Serve.with(
            ["--cache-mb", "1", "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            var replies: [Serve.Reply] = []
            // 600 KB each under a 1 MiB bound: the second context pushes the first out.
            for context in [first, first, second, first] {
                replies.append(try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: context)))
            }
            return replies
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let cached = replies.map { ($0.json["rlm"] as? [String: Any])?["context_cached"] as? Bool }
        #expect(cached == [false, true, false, false], "\(replies.map { $0.body.prefix(300) })")
    }
}
