import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm_ask` with a `schema`, through the real `rlm mcp` and the official `mcp` Python client, which checks every
/// result against the tool's declared `outputSchema`.
@Suite(.serialized, .timeLimit(.minutes(5))) struct MCPTypedAnswerTests {
    static var totalsSchema: [String: Any] { [
        "type": "object", "required": ["totals"], "additionalProperties": false,
        "properties": ["totals": ["type": "array", "items": [
            "type": "object", "required": ["user", "amount"], "additionalProperties": false,
            "properties": ["user": ["type": "string"], "amount": ["type": "integer"]]]]],
    ] }

    /// Totals per user of the records given as JSON text; for a query that says MISFIT, a value without
    /// `amount` every time; for a count, the number as text.
    static func startModel() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root"]) { request in
            let asked = request.messages.filter { $0.role == "user" }.map(\.content).joined(separator: "\n")
            if asked.contains("MISFIT") {
                return SimulatedReply(text: replBlock("FINAL({'totals': [{'user': 'ann'}]})"), promptTokens: 100, completionTokens: 10)
            }
            if asked.contains("How many records") {
                return SimulatedReply(text: replBlock("import json\nFINAL(str(len(json.loads(context))))"), promptTokens: 100, completionTokens: 10)
            }
            return SimulatedReply(text: replBlock("""
                import json
                totals = {}
                for r in json.loads(context):
                    totals[r['user']] = totals.get(r['user'], 0) + r['amount']
                FINAL({'totals': [{'user': u, 'amount': a} for u, a in sorted(totals.items())]})
                """), promptTokens: 100, completionTokens: 10)
        }
    }

    @Test func aTypedAnswerIsJSONInAnswerAndTheClientAcceptsIt() async throws {
        let python = try await PythonClients.interpreter()
        let model = try await Self.startModel()
        defer { Task { await model.shutdown() } }
        let records = String(decoding: try JSONSerialization.data(withJSONObject: ServeStructuredOutputTests.records), as: UTF8.self)
        let question = "What is the total amount per user? Give every user."
        try await MCPPythonClientTests.withFolder { folder in
            let config: [String: Any] = [
                "command": CLI.binary, "args": ["mcp", "--max-iterations", "6", "--no-log"],
                "env": MCPPythonClientTests.environment(baseURL: model.baseURL), "cwd": folder.path,
                "calls": [
                    ["query": question, "text": records, "schema": Self.totalsSchema],
                    ["query": "MISFIT: " + question, "text": records, "schema": Self.totalsSchema],
                    ["query": question, "text": records, "schema": ["type": "object", "properties": ["to": ["type": "string", "format": "email"]]]],
                    ["query": "How many records are there?", "text": records],
                ],
            ]
            let configText = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
            let run = try await Subprocess.run(
                .path(FilePath(python)), arguments: [MCPPythonClientTests.fixture, configText],
                input: .none, output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
            let stdout = run.standardOutput
            #expect(run.terminationStatus == .exited(0), "stderr: \(run.standardError)")
            if let path = ProcessInfo.processInfo.environment["RLM_MCP_TYPED_REPORT"] { try stdout.write(toFile: path, atomically: true, encoding: .utf8) }
            let report = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any],
                                      "stdout: \(stdout)\nstderr: \(run.standardError)")

            // The tool declares an outputSchema whose `answer` allows any JSON, and takes `schema`.
            let tool = try #require((report["tools"] as? [[String: Any]])?.first)
            let output = try #require(tool["outputSchema"] as? [String: Any], "\(tool)")
            let answerSchema = (output["properties"] as? [String: Any])?["answer"] as? [String: Any]
            #expect(answerSchema?["type"] == nil, "\(output)")
            #expect(((tool["inputSchema"] as? [String: Any])?["properties"] as? [String: Any])?["schema"] != nil)

            let calls = try #require(report["calls"] as? [[String: Any]])
            try #require(calls.count == 4)
            // The typed answer is JSON in `answer`, and the client (which validated it) kept it.
            let first = try #require(calls[0]["result"] as? [String: Any])
            #expect(first["isError"] as? Bool != true, "\(first)")
            let structured = try #require(first["structuredContent"] as? [String: Any])
            #expect(structured["status"] as? String == "answered")
            #expect(structured["answer"] as? NSDictionary == ["totals": ServeStructuredOutputTests.expectedTotals] as NSDictionary, "\(structured)")

            // Every submission misses `amount`: a tool error keeping the last one and its problems.
            let second = try #require(calls[1]["result"] as? [String: Any])
            #expect(second["isError"] as? Bool == true)
            let misfit = try #require(second["structuredContent"] as? [String: Any], "\(second)")
            #expect(misfit["status"] as? String == "partial")
            #expect(misfit["stop_reason"] as? String == "schema")
            #expect(misfit["answer"] as? NSDictionary == ["totals": [["user": "ann"]]] as NSDictionary)
            let violations = misfit["schema_violations"] as? [[String: Any]] ?? []
            #expect(violations.first?["path"] as? String == "$.totals[0]", "\(misfit)")
            #expect((misfit["error"] as? String ?? "").contains("amount"))

            // A keyword the validator does not support: a tool error naming it, and no run.
            let third = try #require(calls[2]["result"] as? [String: Any])
            #expect(third["isError"] as? Bool == true)
            let refusal = ((third["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(refusal.contains("\"format\""), "\(refusal)")

            // Without a schema the answer stays text.
            let fourth = try #require(calls[3]["result"] as? [String: Any])
            #expect((fourth["structuredContent"] as? [String: Any])?["answer"] as? String == "200", "\(fourth)")
        }
        // One turn for the totals, three refused tries, none for the bad schema, one for the count.
        #expect(model.requestCount == 5)
    }
}
