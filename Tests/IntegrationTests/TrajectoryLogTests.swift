import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The trajectory log as a format: versioned, documented, linear in the work done, readable after a kill.
@Suite(.serialized) struct TrajectoryLogTests {
    static func objects(_ url: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line.prefix(200))")
        }
    }

    static var trajectoryDoc: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("docs/trajectory.md"), encoding: .utf8)) ?? ""
    }

    @Test func headerIsVersionedAndEveryEventAndFieldIsDocumented() async throws {
        let (log, run) = try await RecordedRuns.recursive()
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let events = try Self.objects(log)
        let header = try #require(events.first)
        #expect(header["event"] as? String == "header")
        #expect(header["schema_version"] as? Int == 1)
        #expect((header["prices"] as? [String: Any])?["root-model"] != nil)
        let finished = try #require(events.last)
        let byModel = (finished["details"] as? [String: Any])?["usage_by_model"] as? [String: Any]
        #expect(byModel?.keys.sorted() == ["root-model", "sub-model"])
        let doc = Self.trajectoryDoc
        #expect(!doc.isEmpty, "docs/trajectory.md is missing")
        for event in events {
            let kind = event["event"] as? String ?? "?"
            #expect(doc.contains("`\(kind)`"), "docs/trajectory.md does not describe the event \(kind)")
            var fields = Array(event.keys)
            if let details = event["details"] as? [String: Any] { fields += details.keys }
            for field in fields where !doc.contains("`\(field)`") {
                Issue.record("docs/trajectory.md does not describe the field \(field) (of \(kind))")
            }
        }
        // Child RLMs are tied to the sub-call that started them.
        let children = Set(events.compactMap { $0["child_trajectory"] as? String })
        #expect(children == ["0.1", "0.2"])
    }

    @Test func logGrowsLinearlyWithTheSubCalls() async throws {
        let (small, first) = try await RecordedRuns.fanOut(subCalls: 250, name: "linear-250")
        let (large, second) = try await RecordedRuns.fanOut(subCalls: 1_000, name: "linear-1000")
        #expect(first.exitCode == 0 && second.exitCode == 0, "stderr: \(first.stderr) \(second.stderr)")
        let size = { (url: URL) in (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
        // Four times the sub-calls: four times the sub-call lines, plus the same header and turns.
        let ratio = Double(size(large)) / Double(size(small))
        #expect(ratio > 3.0 && ratio < 4.5, "1,000 sub-calls wrote \(size(large)) bytes, 250 wrote \(size(small)): ×\(ratio)")
        let lines = try Self.objects(large)
        #expect(lines.filter { $0["event"] as? String == "subcall_finished" }.count == 1_000)
        // No line carries what came before it: the longest line stays short.
        let longest = try String(contentsOf: large, encoding: .utf8).split(separator: "\n").map(\.utf8.count).max() ?? 0
        #expect(longest < 4_000, "a line of \(longest) bytes")
    }

    @Test func killedRunLeavesALogReadableToItsLastEvent() async throws {
        let server = try await ModelSimulator.start(models: ["root-model", "sub-model"]) { request in
            if request.model == "sub-model" { return SimulatedReply(text: "slow ok", promptTokens: 20, completionTokens: 2, delay: .milliseconds(150)) }
            return SimulatedReply(text: replBlock("r = llm_query_batched(['x%d' % i for i in range(400)])\nFINAL('done')"))
        }
        defer { Task { await server.shutdown() } }
        let context = try TemporaryFile(contents: "some text")
        let log = RecordedRuns.folder.appendingPathComponent("killed.jsonl")
        try? FileManager.default.removeItem(at: log)
        let arguments = ["ask", "q", "--context", context.path, "--sub-model", "sub-model", "--max-concurrency", "4", "--log", log.path]
        let result = try await Subprocess.run(
            .path(FilePath(CLI.binary)), arguments: Arguments(arguments),
            environment: .custom(CLI.environment(["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])),
            input: .none, output: .discarded, error: .discarded
        ) { execution in
            for _ in 0..<600 {
                let text = FileManager.default.contents(atPath: log.path).map { String(decoding: $0, as: UTF8.self) } ?? ""
                if text.components(separatedBy: "\"subcall_finished\"").count > 20 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try execution.send(signal: .kill)
        }
        #expect(!result.terminationStatus.isSuccess, "the run was not killed")
        let text = try String(contentsOf: log, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count > 20)
        // Every line but a cut-off last one is a whole event.
        for (index, line) in lines.enumerated() where index < lines.count - 1 || text.hasSuffix("\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "line \(index + 1) is not whole")
        }
        #expect(!text.contains("run_finished"))
        let page = RecordedRuns.folder.appendingPathComponent("killed.html").path
        let view = try await CLI.run(["view", log.path, "-o", page])
        #expect(view.exitCode == 0, "stderr: \(view.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("subcall_finished"))
        if HeadlessChromium.available {
            let loaded = try await HeadlessChromium.load(URL(fileURLWithPath: page).absoluteString)
            ViewerBrowserTests.expectClean(loaded, "killed run")
            #expect(loaded.dom.contains("still going (or was stopped before it logged its end)"))
        }
    }
}
