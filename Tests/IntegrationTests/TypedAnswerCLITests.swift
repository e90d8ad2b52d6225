import Foundation
import RLMTesting
import Testing

/// `rlm ask --schema` and `rlm chat --schema`: the real binary, the real REPL, a simulated model server.
@Suite(.serialized, .timeLimit(.minutes(2))) struct TypedAnswerCLITests {
    /// 200 JSON lines of {user, amount}, and what they add up to.
    struct Records {
        static let users = ["ann", "bob", "cy", "dee", "eve"]
        let text: String
        let byUser: [String: Int]
        var total: Int { byUser.values.reduce(0, +) }
        var topUser: String { byUser.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }!.key }

        init(count: Int = 200) {
            var lines: [String] = []
            var byUser: [String: Int] = [:]
            for index in 0..<count {
                let user = Self.users[(index * 7 + index / 3) % Self.users.count]
                let amount = (index * 37) % 101 + 1
                byUser[user, default: 0] += amount
                lines.append(#"{"user": "\#(user)", "amount": \#(amount)}"#)
            }
            text = lines.joined(separator: "\n") + "\n"
            self.byUser = byUser
        }
    }

    static let schema = """
        {"type": "object", "properties": {"total": {"type": "integer"}, "top_user": {"type": "string"},
         "by_user": {"type": "object", "additionalProperties": {"type": "integer"}}},
         "required": ["total", "top_user", "by_user"], "additionalProperties": false}
        """

    /// Reads the records, sums them; its first submission forgets `top_user`, the second checks and fits.
    static let sumRecords = """
        import json
        rows = context if isinstance(context, list) else [json.loads(line) for line in context.splitlines() if line.strip()]
        by_user = {}
        for row in rows:
            by_user[row["user"]] = by_user.get(row["user"], 0) + row["amount"]
        print(len(rows), "rows")
        FINAL({"total": sum(by_user.values()), "by_user": by_user})
        """
    static let fixSubmission = """
        result = {"total": sum(by_user.values()), "by_user": by_user,
                  "top_user": max(sorted(by_user), key=lambda name: by_user[name])}
        print(check_answer(result))
        FINAL(result)
        """

    /// A model that sums the records, is refused once, then submits a value that fits.
    static func startModel() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model"]) { request in
            switch request.assistantTurns {
            case 0: SimulatedReply(text: "Sum per user.\n" + replBlock(sumRecords))
            default:
                // Only a refusal that names the missing key gets the fix.
                request.lastUserText.contains(#"$: missing required key "top_user""#)
                    ? SimulatedReply(text: replBlock(fixSubmission)) : SimulatedReply(text: replBlock("FINAL('lost')"))
            }
        }
    }

    func expected(_ records: Records) -> [String: Any] {
        ["total": records.total, "top_user": records.topUser, "by_user": records.byUser]
    }

    func object(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func askWithASchemaPrintsTheJSONAnswerAndTheLogShowsTheRefusal() async throws {
        let records = Records()
        let input = try TemporaryFile(named: "payments.jsonl", contents: records.text)
        let schemaFile = try TemporaryFile(named: "schema.json", contents: Self.schema)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-typed-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try await Self.startModel()
        defer { Task { await server.shutdown() } }

        let run = try await CLI.run(["ask", "Total amount, the top user, and the amount per user?", "--context", input.path,
                                     "--schema", schemaFile.path, "--log", log.path],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        print("typed-demo rlm ask --schema stdout: \(run.stdout)")
        let answer = try object(run.stdout)
        #expect(answer["total"] as? Int == records.total)
        #expect(answer["top_user"] as? String == records.topUser)
        #expect(answer["by_user"] as? [String: Int] == records.byUser)

        // The log shows the refused submission with its error, then the answer that fitted.
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map { try object(String($0)) }
        #expect((lines.first?["answer_schema"] as? [String: Any])?["required"] as? [String] == ["total", "top_user", "by_user"])
        let refused = try #require(lines.first { $0["event"] as? String == "answer_refused" })
        let details = try #require(refused["details"] as? [String: Any])
        #expect(details["errors"] as? [String] == [#"$: missing required key "top_user""#])
        #expect(details["attempt"] as? Int == 1)
        let events = lines.compactMap { $0["event"] as? String }
        #expect(events.firstIndex(of: "answer_refused")! < events.firstIndex(of: "final_answer")!)
    }

    @Test func jsonPutsTheTypedAnswerInAnswerAsJSON() async throws {
        let records = Records()
        let input = try TemporaryFile(named: "payments.jsonl", contents: records.text)
        let server = try await Self.startModel()
        defer { Task { await server.shutdown() } }

        let run = try await CLI.run(["ask", "Totals?", "--context", input.path, "--schema", Self.schema, "--json", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        print("typed-demo rlm ask --schema --json stdout: \(run.stdout)")
        let report = try object(run.stdout)
        #expect(report["status"] as? String == "answered")
        let answer = try #require(report["answer"] as? [String: Any], "answer is not a JSON object: \(report["answer"] ?? "nil")")
        #expect(answer["total"] as? Int == records.total)
        #expect(answer["top_user"] as? String == records.topUser)
        #expect(report["schema_violations"] is NSNull)
    }

    @Test func anUnsupportedKeywordIsAUsageErrorNamingIt() async throws {
        let input = try TemporaryFile(named: "payments.jsonl", contents: Records(count: 3).text)
        // No model server: the schema is refused before anything is asked.
        let schema = #"{"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}"#
        let run = try await CLI.run(["ask", "q", "--context", input.path, "--schema", schema, "--no-log",
                                     "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
        #expect(run.exitCode == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains(#""format""#), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("$.properties.email"))
        let json = try await CLI.run(["ask", "q", "--context", input.path, "--schema", #"{"type": "strng"}"#, "--json",
                                      "--no-log", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
        #expect(json.exitCode == 2)
        let report = try object(json.stdout)
        #expect(report["status"] as? String == "error")
        #expect((report["error"] as? String)?.contains(#""type""#) == true)
        let missing = try await CLI.run(["ask", "q", "--context", input.path, "--schema", "/nonexistent/schema.json",
                                         "--no-log", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
        #expect(missing.exitCode == 2)
        #expect(missing.stderr.contains("/nonexistent/schema.json"))
    }

    @Test func threeMisfitsExitOneWithStatusPartialAndTheLastSubmission() async throws {
        let input = try TemporaryFile(named: "payments.jsonl", contents: Records(count: 10).text)
        let server = try await ModelSimulator.start(models: ["root-model"]) { request in
            SimulatedReply(text: replBlock("FINAL({'total': \(request.assistantTurns), 'top_user': 7})"))
        }
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["ask", "Totals?", "--context", input.path, "--schema", Self.schema, "--json", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 1, "stderr: \(run.stderr)")
        let report = try object(run.stdout)
        #expect(report["status"] as? String == "partial")
        #expect(report["stop_reason"] as? String == "schema")
        let last = try #require(report["answer"] as? [String: Any])
        #expect(last["total"] as? Int == 2)
        let violations = try #require(report["schema_violations"] as? [[String: Any]])
        #expect(violations.contains { $0["path"] as? String == "$.top_user" })
        #expect(server.requestCount == 3)
        // Without --json: the last submission on stdout, its problems on stderr.
        let plain = try await CLI.run(["ask", "Totals?", "--context", input.path, "--schema", Self.schema, "--no-log",
                                       "--max-schema-attempts", "1"],
                                      environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(plain.exitCode == 1)
        #expect(try object(plain.stdout)["total"] as? Int == 0)
        #expect(plain.stderr.contains("stopped by schema"))
        #expect(plain.stderr.contains("$.top_user"))
    }

    @Test func chatAppliesTheSchemaToEveryQuestion() async throws {
        let input = try TemporaryFile(named: "payments.jsonl", contents: Records(count: 20).text)
        let server = try await ModelSimulator.start(models: ["root-model"]) { request in
            // Each question's prompt must show the schema, or the reply is text and the test fails.
            let turn = request.messages.filter { $0.role == "user" }.count
            guard request.messages.contains(where: { $0.content.contains(#""top_user""#) }) else {
                return SimulatedReply(text: replBlock("FINAL('no schema shown')"))
            }
            return SimulatedReply(text: replBlock(#"FINAL({"total": \#(turn), "top_user": "ann", "by_user": {}})"#))
        }
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["chat", "--context", input.path, "--schema", Self.schema, "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"],
                                    stdin: "first?\nsecond?\n")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let answers = run.stdout.split(separator: "\n").map(String.init)
        #expect(answers.count == 2)
        for answer in answers { #expect(try object(answer)["top_user"] as? String == "ann") }
    }
}
