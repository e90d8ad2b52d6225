import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `response_format` through the real `rlm serve`, driven by the official `openai` client's structured-output
/// helpers (`parse` with a Pydantic model, whole and streamed) over 200 generated {user, amount} records.
@Suite(.timeLimit(.minutes(5))) struct ServeStructuredOutputTests {
    static let users = ["ann", "bob", "cy", "dee", "eve"]

    /// 200 records; user i % 5, amount (i * 37) % 100 + 1.
    static var records: [[String: Any]] { (0..<200).map { ["user": users[$0 % 5], "amount": ($0 * 37) % 100 + 1] } }

    static var expectedTotals: [[String: Any]] {
        users.map { user in
            ["user": user, "amount": records.filter { $0["user"] as? String == user }.reduce(0) { $0 + ($1["amount"] as! Int) }]
        }
    }

    /// The model's code: totals per user for a totals question, a count for "How many records", and for a
    /// question that says MISFIT, a value without `amount` every time.
    static func startModel() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root"]) { request in
            let asked = request.messages.filter { $0.role == "user" }.map(\.content).joined(separator: "\n")
            if asked.contains("MISFIT") {
                return SimulatedReply(text: replBlock("FINAL({'totals': [{'user': 'ann'}]})"), promptTokens: 100, completionTokens: 10)
            }
            if request.lastUserText.contains("How many records") {
                return SimulatedReply(text: replBlock("FINAL(str(len(context)))"), promptTokens: 100, completionTokens: 10)
            }
            return SimulatedReply(text: replBlock("""
                totals = {}
                for r in context:
                    totals[r['user']] = totals.get(r['user'], 0) + r['amount']
                value = {'totals': [{'user': u, 'amount': a} for u, a in sorted(totals.items())]}
                print(check_answer(value))
                FINAL(value)
                """), promptTokens: 100, completionTokens: 10)
        }
    }

    @Test func officialClientParsesTypedAnswersAndSeesRefusals() async throws {
        let python = try await PythonClients.interpreter()
        let fixture = PythonClients.repositoryRoot.appendingPathComponent("Tests/Fixtures/openai_structured_client.py").path
        let recordsFile = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-records-\(UUID().uuidString.prefix(8)).json")
        try JSONSerialization.data(withJSONObject: Self.records).write(to: recordsFile)
        defer { try? FileManager.default.removeItem(at: recordsFile) }
        let model = try await Self.startModel()
        defer { Task { await model.shutdown() } }
        let token = "serve-test-token-\(UUID().uuidString.prefix(6))"
        let (client, run) = try await Serve.with(
            ["--auth-token-env", "RLM_SERVE_TOKEN", "--no-log"],
            environment: ["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root", "RLM_SERVE_TOKEN": token]
        ) { handle in
            let result = try await Subprocess.run(
                .path(FilePath(python)), arguments: [fixture, handle.baseURL + "/v1", token, "rlm", recordsFile.path],
                output: .string(limit: 4 << 20), error: .string(limit: 4 << 20))
            return (result.standardOutput, result.standardError)
        }
        #expect(run.exitCode == 0, "rlm serve stderr: \(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(client.0.utf8)) as? [String: Any],
                                  "client stdout: \(client.0)\nclient stderr: \(client.1)")
        let expected = ["totals": Self.expectedTotals] as NSDictionary
        // The client's report, for a closing note: RLM_STRUCTURED_REPORT=FILE keeps it.
        if let path = ProcessInfo.processInfo.environment["RLM_STRUCTURED_REPORT"] { try client.0.write(toFile: path, atomically: true, encoding: .utf8) }

        // Whole: parse() got JSON that its Pydantic model accepts, and the extension says the schema applied.
        let parse = try #require(report["parse"] as? [String: Any])
        #expect(parse["parsed"] as? NSDictionary == expected, "\(parse)")
        #expect(parse["finish_reason"] as? String == "stop")
        let rlm = parse["rlm"] as? [String: Any] ?? [:]
        let format = rlm["response_format"] as? [String: Any] ?? [:]
        #expect(format["type"] as? String == "json_schema")
        #expect(format["name"] as? String == "Totals")
        #expect(format["strict"] as? Bool == true)
        #expect(format["fits"] as? Bool == true)
        #expect(format["refused_submissions"] as? Int == 0)

        // Streamed: the content deltas carry the JSON, and the helper parses it.
        let stream = try #require(report["stream"] as? [String: Any])
        #expect(stream["parsed"] as? NSDictionary == expected, "\(stream)")
        let deltas = (stream["deltas"] as? [String] ?? []).joined()
        #expect((try? JSONSerialization.jsonObject(with: Data(deltas.utf8))) as? NSDictionary == expected)

        // json_object: a JSON object.
        let object = try #require(report["json_object"] as? [String: Any])
        let content = object["content"] as? String ?? ""
        #expect((try? JSONSerialization.jsonObject(with: Data(content.utf8))) as? NSDictionary == expected, "\(object)")
        #expect((object["rlm_format"] as? [String: Any])?["type"] as? String == "json_object")

        // A session: text first, then a follow-up with its own response_format, in the same session.
        let session = try #require(report["session"] as? [String: Any])
        #expect(session["first"] as? String == "200")
        #expect(session["first_format"] is NSNull)
        #expect(session["follow_parsed"] as? NSDictionary == expected, "\(session)")
        #expect(session["follow_session"] as? Bool == true)

        // 400s before any run, naming the type and the keyword.
        let unknown = try #require(report["unknown_type"] as? [String: Any], "\(report)")
        #expect(unknown["status"] as? Int == 400)
        let unknownBody = unknown["body"] as? [String: Any] ?? [:]
        #expect((unknownBody["message"] as? String ?? "").contains("\"xml\""), "\(unknown)")
        #expect(unknownBody["param"] as? String == "response_format.type")
        let keyword = try #require(report["unsupported_keyword"] as? [String: Any], "\(report)")
        #expect(keyword["status"] as? Int == 400)
        let keywordBody = keyword["body"] as? [String: Any] ?? [:]
        #expect((keywordBody["message"] as? String ?? "").contains("\"format\""), "\(keyword)")
        #expect(keywordBody["code"] as? String == "unsupported_schema_keyword")

        // Strict, every submission misses `amount`: 422 with the last submission and the violations.
        let misfit = try #require(report["strict_misfit"] as? [String: Any], "\(report)")
        #expect(misfit["status"] as? Int == 422)
        let body = misfit["body"] as? [String: Any] ?? [:]
        #expect(body["code"] as? String == "answer_does_not_fit")
        #expect(body["last_submission"] as? NSDictionary == ["totals": [["user": "ann"]]] as NSDictionary, "\(body)")
        let violations = body["violations"] as? [[String: Any]] ?? []
        #expect(violations.first?["path"] as? String == "$.totals[0]", "\(violations)")
        #expect((violations.first?["message"] as? String ?? "").contains("amount"))
        let failedRun = body["rlm"] as? [String: Any] ?? [:]
        #expect(failedRun["stop_reason"] as? String == "schema")
        #expect((failedRun["response_format"] as? [String: Any])?["refused_submissions"] as? Int == 3)
        let streamed = try #require(report["strict_misfit_stream"] as? [String: Any], "\(report)")
        #expect((streamed["body"] as? [String: Any])?["code"] as? String == "answer_does_not_fit", "\(streamed)")

        // Not strict: 200 with the best JSON, and its problems in the extension.
        let loose = try #require(report["loose_misfit"] as? [String: Any], "\(report)")
        #expect(loose["content"] as? String == "{\"totals\": [{\"user\": \"ann\"}]}", "\(loose)")
        #expect(loose["finish_reason"] as? String == "stop")
        let looseFormat = loose["rlm_format"] as? [String: Any] ?? [:]
        #expect(looseFormat["fits"] as? Bool == false)
        #expect(looseFormat["strict"] as? Bool == false)
        #expect(((looseFormat["violations"] as? [[String: Any]])?.first?["message"] as? String ?? "").contains("amount"))
        // The 400s reached no model: 4 answers, 2 asked in one session, and 3 misfits of 3 tries each.
        #expect(model.requestCount == 4 + 2 + 9, "requests: \(model.requestCount)")
    }
}
