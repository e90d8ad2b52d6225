import Foundation
import ModelSimulator
import Testing

/// `rlm serve`'s guards: auth, error shapes, size limits, the run limit, the files root, disconnects and draining.
@Suite struct ServeControlTests {
    static let environment = ["RLM_MODEL": "root"]
    static let answerLength = replBlock("FINAL(f'{len(context)} chars')")

    @Test func refusalsUseOpenAIErrorShape() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: Self.answerLength) }
        defer { Task { await model.shutdown() } }
        let token = "control-token-\(UUID().uuidString.prefix(6))"
        let (checks, run) = try await Serve.with(
            ["--auth-token-env", "SERVE_TOKEN", "--max-request-bytes", "4096", "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL, "SERVE_TOKEN": token]) { $1 }
        ) { handle in
            let missing = try await Serve.request(handle, "GET", "/v1/models")
            let wrong = try await Serve.request(handle, "GET", "/v1/models", token: "guess")
            let health = try await Serve.request(handle, "GET", "/healthz")
            let models = try await Serve.request(handle, "GET", "/v1/models", token: token)
            let notJSON = try await Serve.request(handle, "POST", "/v1/chat/completions", body: "{not json", token: token)
            let noMessages = try await Serve.request(handle, "POST", "/v1/chat/completions", json: ["model": "rlm"], token: token)
            let unknownModel = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", model: "gpt-4"), token: token)
            let noRoute = try await Serve.request(handle, "GET", "/v2/anything", token: token)
            let big = try await Serve.request(handle, "POST", "/v1/chat/completions",
                                              json: Serve.chat("q", context: String(repeating: "x", count: 8_000)), token: token)
            let noRoot = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", paths: ["a.txt"]), token: token)
            let answered = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "12345"), token: token)
            return [missing, wrong, health, models, notJSON, noMessages, unknownModel, noRoute, big, noRoot, answered]
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let (missing, wrong, health, models) = (checks[0], checks[1], checks[2], checks[3])
        #expect(missing.status == 401 && missing.errorObject["code"] as? String == "invalid_api_key")
        #expect(wrong.status == 401 && wrong.errorObject["type"] as? String == "invalid_request_error")
        #expect(!wrong.body.contains(token) && !wrong.body.contains("guess"))
        #expect(health.status == 200)
        #expect(models.status == 200 && models.body.contains("\"id\":\"rlm\""))
        let (notJSON, noMessages, unknownModel, noRoute) = (checks[4], checks[5], checks[6], checks[7])
        #expect(notJSON.status == 400 && notJSON.errorObject["type"] as? String == "invalid_request_error", "\(notJSON.body)")
        #expect(noMessages.status == 400 && (noMessages.errorObject["message"] as? String ?? "").contains("messages"), "\(noMessages.body)")
        #expect(unknownModel.status == 404 && unknownModel.errorObject["code"] as? String == "model_not_found")
        #expect(unknownModel.errorObject["param"] as? String == "model")
        #expect(noRoute.status == 404 && noRoute.errorObject["message"] != nil, "\(noRoute.body)")
        let (big, noRoot, answered) = (checks[8], checks[9], checks[10])
        #expect(big.status == 413 && big.errorObject["code"] as? String == "request_too_large", "\(big.body)")
        #expect(noRoot.status == 400 && (noRoot.errorObject["message"] as? String ?? "").contains("--files-root"))
        #expect(answered.status == 200, "\(answered.body)")
        #expect(((answered.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String == "5 chars")
    }

    @Test func fullServerAnswers429WithRetryAfter() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: Self.answerLength, delay: .seconds(4))
        }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--max-concurrent-runs", "1", "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            let first = Task { try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "abc")) }
            for _ in 0..<1_200 where model.requestCount < 1 { try await Task.sleep(for: .milliseconds(100)) }
            let second = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "abc"))
            return (try await first.value, second)
        }
        #expect(run.exitCode == 0)
        #expect(replies.0.status == 200, "\(replies.0.body)")
        #expect(replies.1.status == 429)
        #expect(replies.1.errorObject["type"] as? String == "rate_limit_error")
        let retryAfter = Int(replies.1.headers.first(name: "Retry-After") ?? "")
        #expect((retryAfter ?? 0) >= 1, "Retry-After: \(replies.1.headers)")
    }

    @Test func filesOutsideTheRootAreNeverRead() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-serve-root-\(UUID().uuidString.prefix(8))")
        let root = base.appendingPathComponent("root")
        let docs = root.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        try "inside".write(to: docs.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try "SECRET-OUTSIDE".write(to: base.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link.txt"), withDestinationURL: base.appendingPathComponent("secret.txt"))
        let leaky = root.appendingPathComponent("leaky")
        try FileManager.default.createDirectory(at: leaky, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: leaky.appendingPathComponent("out.txt"), withDestinationURL: base.appendingPathComponent("secret.txt"))

        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL(repr(context))")) }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--files-root", root.path, "--no-log"],
            environment: Self.environment.merging(["RLM_BASE_URL": model.baseURL]) { $1 }
        ) { handle in
            var replies: [String: Serve.Reply] = [:]
            for path in ["docs/a.txt", "docs", "../secret.txt", "link.txt", base.appendingPathComponent("secret.txt").path,
                         "leaky", "docs/../../secret.txt", "missing.txt"] {
                replies[path] = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", paths: [path]))
            }
            return replies
        }
        #expect(run.exitCode == 0)
        func answer(_ path: String) -> String? {
            ((replies[path]?.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        }
        #expect(answer("docs/a.txt") == "'inside'")
        #expect(answer("docs") == "{'docs/a.txt': 'inside'}")
        for refused in ["../secret.txt", "link.txt", base.appendingPathComponent("secret.txt").path, "leaky", "docs/../../secret.txt"] {
            #expect(replies[refused]?.status == 403, "\(refused): \(replies[refused]?.body ?? "")")
            #expect(replies[refused]?.errorObject["code"] as? String == "context_path_outside_root")
        }
        #expect(replies["missing.txt"]?.status == 404)
        // Only the two accepted requests reached the model, and the secret never did.
        #expect(model.requestCount == 2)
        #expect(!replies.values.contains { $0.body.contains("SECRET-OUTSIDE") })
    }
}
