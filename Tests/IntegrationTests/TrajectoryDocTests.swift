import Foundation
import ModelSimulator
import Testing

/// docs/trajectory.md and the log agree. Each case is a log the real binary wrote, read against the fields the
/// document lists for that kind of event; the table of cases here mirrors the document, so a field the log
/// drops, or one the document stops listing, fails.
@Suite(.serialized) struct TrajectoryDocTests {
    /// The fields one kind of event must have, as the document lists them in its row of the kinds table.
    struct Documented {
        var kind: String
        /// Top-level keys and `details` keys the event carries.
        var fields: [String]
        /// Values (such as a status) the document's row must name.
        var values: [String] = []
    }

    static let childSubCall = Documented(kind: "subcall_finished",
                                         fields: ["subcall_id", "model", "seconds", "usage", "text", "child_trajectory", "status"])
    static let failedRun = Documented(kind: "run_finished",
                                      fields: ["status", "text", "iteration", "usage", "seconds", "error", "failure"],
                                      values: ["failed"])
    static let response = Documented(kind: "model_response",
                                     fields: ["iteration", "model", "text", "usage", "seconds", "finish_reason"])

    /// The document's table row for `kind`.
    static func row(of kind: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let doc = TrajectoryLogTests.trajectoryDoc
        let row = doc.split(separator: "\n").first { $0.hasPrefix("| `\(kind)` |") }
        return String(try #require(row, "docs/trajectory.md has no row for \(kind)", sourceLocation: sourceLocation))
    }

    /// Checks `event` has every field of `documented`, and the document's row lists each of them.
    static func expectAgree(_ event: [String: Any], _ documented: Documented, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let row = try row(of: documented.kind, sourceLocation: sourceLocation)
        let keys = Set(event.keys).union((event["details"] as? [String: Any])?.keys ?? [:].keys)
        for field in documented.fields {
            #expect(keys.contains(field), "the log's \(documented.kind) has no \(field): \(event)", sourceLocation: sourceLocation)
            #expect(row.contains("`\(field)`"), "docs/trajectory.md's \(documented.kind) row does not list \(field)", sourceLocation: sourceLocation)
        }
        for value in documented.values {
            #expect(row.contains("`\(value)`"), "docs/trajectory.md's \(documented.kind) row does not name \(value)", sourceLocation: sourceLocation)
        }
    }

    static func tokens(_ usage: Any?) -> Int {
        let usage = usage as? [String: Any] ?? [:]
        return (usage["input_tokens"] as? Int ?? 0) + (usage["output_tokens"] as? Int ?? 0)
    }

    @Test func aChildRLMsSubCallHasItsModelAndUsage() async throws {
        let (log, run) = try await RecordedRuns.recursive()
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let events = try TrajectoryLogTests.objects(log)
        let children = events.filter { $0["event"] as? String == "subcall_finished" && $0["child_trajectory"] != nil }
        #expect(children.count == 2)
        for child in children {
            try Self.expectAgree(child, Self.childSubCall)
            #expect(child["model"] as? String == "root-model")
            // The child's usage is its own events' (turns and plain sub-calls, at any depth below it).
            let id = try #require(child["child_trajectory"] as? String)
            let own = events.filter { event in
                let trajectory = event["trajectory"] as? String ?? ""
                let kind = event["event"] as? String
                return (trajectory == id || trajectory.hasPrefix(id + "."))
                    && (kind == "model_response" || (kind == "subcall_finished" && event["child_trajectory"] == nil))
            }
            #expect(Self.tokens(child["usage"]) == own.reduce(0) { $0 + Self.tokens($1["usage"]) })
            #expect(Self.tokens(child["usage"]) > 0)
        }
    }

    @Test func aRunThatFailsAfterItsFirstTurnLogsFailedAsJSONSays() async throws {
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            if request.assistantTurns == 0 {
                return SimulatedReply(text: "First look: the file is short.\n" + replBlock("print(len(context))"),
                                      promptTokens: 100, completionTokens: 20)
            }
            return .failure(status: 500, message: "the server broke")
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "context")
        let log = RecordedRuns.folder.appendingPathComponent("failed-\(UUID().uuidString.prefix(6)).jsonl")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--json", "--log", log.path, "--max-retries", "1"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(json["status"] as? String == "failed")
        let finished = try #require(try TrajectoryLogTests.objects(log).last)
        #expect(finished["event"] as? String == "run_finished")
        try Self.expectAgree(finished, Self.failedRun)
        #expect(finished["status"] as? String == json["status"] as? String)
        #expect(finished["text"] as? String == "First look: the file is short.")
        #expect(((finished["details"] as? [String: Any])?["failure"] as? String)?.contains("HTTP 500") == true)
    }

    @Test func usageSaysEstimatedOnlyWhenItIs() async throws {
        let estimated = try await ModelSimulator.start(models: ["root"]) { _ in .withoutUsage(replBlock("FINAL('done')")) }
        let counted = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("FINAL('done')"), promptTokens: 50, completionTokens: 5)
        }
        defer { Task { await estimated.shutdown(); await counted.shutdown() } }
        let file = try TemporaryFile(contents: "context")
        var usages: [[String: Any]] = []
        for server in [estimated, counted] {
            let log = RecordedRuns.folder.appendingPathComponent("usage-\(UUID().uuidString.prefix(6)).jsonl")
            let run = try await CLI.run(["ask", "q", "--context", file.path, "--log", log.path],
                                        environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"])
            #expect(run.exitCode == 0, "stderr: \(run.stderr)")
            let reply = try #require(try TrajectoryLogTests.objects(log).first { $0["event"] as? String == "model_response" })
            try Self.expectAgree(reply, Self.response)
            usages.append(try #require(reply["usage"] as? [String: Any]))
        }
        #expect(usages[0]["estimated"] as? Bool == true)
        #expect(usages[1]["estimated"] == nil, "a server's own count carries no estimated key")
        #expect(usages[1]["input_tokens"] as? Int == 50)
        // The document says the key is present only when true.
        let usageRow = try #require(TrajectoryLogTests.trajectoryDoc.split(separator: "\n").first { $0.hasPrefix("| `usage` |") })
        #expect(usageRow.contains("`\"estimated\": true`") && usageRow.contains("present only then"))
    }
}
