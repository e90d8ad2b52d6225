import Foundation
import RLMTesting
import Synchronization
import Testing

/// `--route auto|rlm|direct` and `rlm ask --estimate`: the real binary against a simulated model server that counts
/// what reaches it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RouteTests {
    /// The output caps of the requests the server saw.
    final class Caps: Sendable {
        let value = Mutex<[Int?]>([])
    }

    /// About 20 KB of text with one fact in the middle.
    static func smallText() -> String {
        var lines = (0..<350).map { "Line \($0): inventory row \($0 * 37 % 101), shelf \($0 % 12), nothing unusual here." }
        lines.insert("The spare key is kept under the blue flowerpot.", at: 175)
        return lines.joined(separator: "\n")
    }

    static func objects(inLog path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not one JSON object: \(text)")
    }

    /// A root model that answers from the prompt when the context is in it, and otherwise from code.
    static func startModel(finishReason: String = "stop") async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model"]) { request in
            let prompt = request.messages.map(\.content).joined(separator: "\n")
            if prompt.contains("blue flowerpot") {
                return SimulatedReply(text: "Under the blue flowerpot.", finishReason: finishReason)
            }
            return SimulatedReply(text: replBlock("FINAL('chars: ' + str(len(context)))"))
        }
    }

    @Test func autoOnTwentyKilobytesWithA32KWindowIsOneCallAndNoREPL() async throws {
        let input = try TemporaryFile(named: "notes.txt", contents: Self.smallText())
        #expect((19_000...22_000).contains(Self.smallText().utf8.count))
        let log = try TemporaryFile(named: "route.jsonl", contents: "")
        let server = try await Self.startModel()
        defer { Task { await server.shutdown() } }
        // A Python that does not exist: any REPL process would fail the run with exit 2.
        let run = try await CLI.run(["ask", "Where is the spare key?", "--context", input.path, "--route", "auto",
                                     "--model-window", "32768", "--python", "/nonexistent/python3", "--json", "--log", log.path],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let report = try Self.json(run.stdout)
        #expect(report["answer"] as? String == "Under the blue flowerpot.")
        #expect(report["route"] as? String == "direct")
        #expect(report["iterations"] as? Int == 1)
        #expect(server.requestCount == 1)
        #expect(run.stderr.contains("route auto") && run.stderr.contains("fit in half the root model's window (16384 of 32768 tokens"), "stderr: \(run.stderr)")
        let events = try Self.objects(inLog: log.path)
        let kinds = events.compactMap { $0["event"] as? String }
        #expect(events.first?["route"] as? String == "direct")
        #expect(kinds.filter { $0 == "model_response" }.count == 1)
        for repl in ["context_loaded", "sandbox", "code_executed", "subcall_started"] { #expect(!kinds.contains(repl), "\(kinds)") }
        #expect(events.last?["route"] as? String == "direct")
        #expect(events.last?["status"] as? String == "answered")
    }

    @Test func autoOnFourMegabytesRunsTheRLM() async throws {
        let text = String(repeating: Self.smallText() + "\n", count: 200)
        #expect(text.utf8.count > 4_000_000)
        let input = try TemporaryFile(named: "big.txt", contents: text)
        let server = try await Self.startModel()
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["ask", "How long is it?", "--context", input.path, "--route", "auto",
                                     "--model-window", "32768", "--json", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let report = try Self.json(run.stdout)
        #expect(report["route"] as? String == "rlm")
        #expect(report["answer"] as? String == "chars: \(text.count)")
        #expect(run.stderr.contains("exceed half the root model's window"), "stderr: \(run.stderr)")
        #expect(server.requestCount == 1)
    }

    @Test func aDirectReplyCutAtTheOutputLimitIsPartial() async throws {
        let input = try TemporaryFile(named: "notes.txt", contents: Self.smallText())
        let server = try await Self.startModel(finishReason: "length")
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["ask", "Where is the spare key?", "--context", input.path, "--route", "direct",
                                     "--json", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        // README: exit 1 when a limit stopped the run; the partial answer is still given.
        #expect(run.exitCode == 1, "stderr: \(run.stderr)")
        let report = try Self.json(run.stdout)
        #expect(report["status"] as? String == "partial")
        #expect(report["stop_reason"] as? String == "output_limit")
        #expect(report["route"] as? String == "direct")
        #expect(report["answer"] as? String == "Under the blue flowerpot.")
        #expect((report["error"] as? String)?.contains("output limit") == true, "\(report)")
    }

    @Test func theDirectCallIsAdmittedAndCappedByTheBudget() async throws {
        let input = try TemporaryFile(named: "notes.txt", contents: Self.smallText())
        let caps = Caps()
        let server = try await ModelSimulator.start(models: ["root-model"]) { request in
            caps.value.withLock { $0.append(request.outputCap) }
            return SimulatedReply(text: "Under the blue flowerpot.", promptTokens: 5_200, completionTokens: 6)
        }
        defer { Task { await server.shutdown() } }
        let environment = ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"]
        let capped = try await CLI.run(["ask", "Where is the spare key?", "--context", input.path, "--route", "direct",
                                        "--max-tokens", "10000", "--json", "--no-log"], environment: environment)
        #expect(capped.exitCode == 0, "stderr: \(capped.stderr)")
        // The ledger reckons the 21 KB prompt at about 7,100 tokens of the 10,000: the reply may have only what is left.
        let cap = try #require(caps.value.withLock { $0.first } ?? nil)
        #expect(cap > 0 && cap < 3_000, "cap \(cap)")
        // A budget smaller than the prompt refuses the call before it is sent.
        let refused = try await CLI.run(["ask", "Where is the spare key?", "--context", input.path, "--route", "direct",
                                         "--max-tokens", "2000", "--json", "--no-log"], environment: environment)
        #expect(refused.exitCode == 1, "stderr: \(refused.stderr)")
        let report = try Self.json(refused.stdout)
        #expect(report["stop_reason"] as? String == "max_tokens", "\(report)")
        #expect(server.requestCount == 1)
    }

    @Test func aSchemaTakesTheRLMRoute() async throws {
        let input = try TemporaryFile(named: "notes.txt", contents: Self.smallText())
        let server = try await ModelSimulator.start(models: ["root-model"]) { _ in
            SimulatedReply(text: replBlock("FINAL({'lines': len(context.splitlines())})"))
        }
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["ask", "How many lines?", "--context", input.path, "--route", "auto",
                                     "--model-window", "32768", "--schema",
                                     #"{"type": "object", "properties": {"lines": {"type": "integer"}}, "required": ["lines"]}"#,
                                     "--json", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let report = try Self.json(run.stdout)
        #expect(report["route"] as? String == "rlm")
        #expect((report["answer"] as? [String: Any])?["lines"] as? Int == 351)
        #expect(run.stderr.contains("answer schema"), "stderr: \(run.stderr)")
    }

    @Test func chatDecidesOnceAndCarriesTheConversationOnTheDirectRoute() async throws {
        let input = try TemporaryFile(named: "notes.txt", contents: Self.smallText())
        let server = try await ModelSimulator.start(models: ["root-model"]) { request in
            // Each question comes with the context, and the second with the first answer before it.
            let prompt = request.messages.map(\.content).joined(separator: "\n")
            guard prompt.contains("blue flowerpot") else { return SimulatedReply(text: "no context") }
            return SimulatedReply(text: request.assistantTurns == 1 && prompt.contains("answer one") ? "answer two" : "answer one")
        }
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["chat", "--context", input.path, "--route", "auto", "--model-window", "32768",
                                     "--python", "/nonexistent/python3", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"],
                                    stdin: "Where is the key?\nAnd what did you just say?\n")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.split(separator: "\n") == ["answer one", "answer two"], "stdout: \(run.stdout)")
        #expect(run.stderr.components(separatedBy: "route auto").count == 2, "said once: \(run.stderr)")
        #expect(server.requestCount == 2)
    }

    @Test func estimateMakesNoCompletionRequestAndPrintsTheFigures() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-estimate-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for index in 0..<5 {
            try String(repeating: "x", count: 40_000).write(to: folder.appendingPathComponent("part\(index).txt"), atomically: true, encoding: .utf8)
        }
        try Data([0, 1, 2, 3]).write(to: folder.appendingPathComponent("blob.bin"))
        let server = try await Self.startModel()
        defer { Task { await server.shutdown() } }
        let environment = ["RLM_BASE_URL": server.baseURL]
        let text = try await CLI.run(["ask", "What is in it?", "--context", folder.path, "--estimate", "--model", "gpt-5",
                                      "--sub-model", "gpt-5-mini", "--sub-window", "16384"], environment: environment)
        #expect(text.exitCode == 0, "stderr: \(text.stderr)")
        print("rlm ask --estimate stdout:\n\(text.stdout)")
        #expect(text.stdout.contains("5 files (1 binary or unreadable left out), 200,000 bytes of text, about 50,000 tokens"), "\(text.stdout)")
        #expect(text.stdout.contains("root model gpt-5: window 400,000 tokens (known window of gpt-5 models)"))
        #expect(text.stdout.contains("sub model gpt-5-mini: window 16,384 tokens (--sub-window flag)"))
        #expect(text.stdout.contains("--route auto would take: direct"))
        // 16,384 tokens leave (16,384 - 4,096) × 3 = 36,864 characters a call: 200,000 characters take 6 calls.
        #expect(text.stdout.contains("6 sub-calls of up to 36,864 characters"), "\(text.stdout)")
        #expect(text.stdout.contains("at list price"))

        let json = try await CLI.run(["ask", "What is in it?", "--context", folder.path, "--estimate", "--json",
                                      "--model", "unpriced-model", "--model-window", "65536"], environment: environment)
        #expect(json.exitCode == 0, "stderr: \(json.stderr)")
        let report = try Self.json(json.stdout)
        #expect(report["context_tokens"] as? Int == 50_000)
        #expect((report["root_window"] as? [String: Any])?["source"] as? String == "--model-window flag")
        #expect(report["auto_route"] as? String == "rlm")
        #expect((report["sub_pass"] as? [String: Any])?["input_cost_usd"] is NSNull)
        let unpriced = try await CLI.run(["ask", "What is in it?", "--context", folder.path, "--estimate",
                                          "--model", "unpriced-model"], environment: environment)
        #expect(unpriced.stdout.contains("unknown price"), "\(unpriced.stdout)")
        #expect(server.requestCount == 0)
        #expect(!server.requestLog.contains { $0.path.hasSuffix("/chat/completions") })
    }
}

/// `rlm serve --route auto` and `rlm mcp --route auto` name the route in their answers.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ServerRouteTests {
    @Test func serveWithRouteAutoAnswersASmallContextDirectlyAndSaysSo() async throws {
        let model = try await RouteTests.startModel()
        defer { Task { await model.shutdown() } }
        let (reply, run) = try await Serve.with(
            ["--route", "auto", "--model-window", "32768", "--sandbox", "basic", "--no-log"],
            environment: ["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root-model"]
        ) { handle in
            try await Serve.request(handle, "POST", "/v1/chat/completions",
                                    json: Serve.chat("Where is the spare key?", context: RouteTests.smallText()))
        }
        #expect(reply.status == 200, "body: \(reply.body)\nstderr: \(run.stderr)")
        let summary = reply.json["rlm"] as? [String: Any]
        #expect(summary?["route"] as? String == "direct", "\(reply.body)")
        #expect(summary?["session"] == nil, "the direct route keeps no REPL to continue in")
        let choices = reply.json["choices"] as? [[String: Any]]
        #expect((choices?.first?["message"] as? [String: Any])?["content"] as? String == "Under the blue flowerpot.")
        #expect(model.requestCount == 1)
        #expect(run.stderr.contains("route auto"), "stderr: \(run.stderr)")
    }

    @Test func mcpWithRouteAutoAnswersASmallTextDirectlyAndSaysSo() async throws {
        let model = try await RouteTests.startModel()
        defer { Task { await model.shutdown() } }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-mcp-route-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var environment = MCPPythonClientTests.environment(baseURL: model.baseURL)
        environment["RLM_MODEL"] = "root-model"
        let session = try MCPStdioSession(command: [CLI.binary],
                                          arguments: ["mcp", "--route", "auto", "--model-window", "32768", "--sandbox", "basic", "--no-log"],
                                          environment: environment, workingDirectory: folder.path)
        try await session.initialize()
        try session.callAsk(id: 1, arguments: ["query": "Where is the spare key?", "text": RouteTests.smallText()])
        let result = try #require(try await session.response(to: 1)["result"] as? [String: Any], "stderr: \(session.stderr)")
        let structured = result["structuredContent"] as? [String: Any]
        #expect(structured?["route"] as? String == "direct", "\(result)")
        #expect(structured?["answer"] as? String == "Under the blue flowerpot.")
        #expect(model.requestCount == 1)
        #expect(session.stderr.contains("route auto"), "stderr: \(session.stderr)")
        try session.closeInput()
        _ = try await session.waitFor(seconds: 60, "exit") { $0.exitCode }
    }
}
