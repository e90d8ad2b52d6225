import Foundation
import Testing

/// `rlm bench` through the real binary: a suite against the built-in simulated server end to end, `--resume`,
/// and `rlm bench engine` with tiny numbers.
@Suite(.serialized) struct BenchCommandTests {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-cli-\(UUID().uuidString.prefix(8))")

    func lines(_ name: String) -> [[String: Any]] {
        let text = (try? String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func niahRunsBaseAndRLMAgainstTheSimulatedServerThenResumes() async throws {
        defer { try? FileManager.default.removeItem(at: out) }
        let arguments = ["bench", "niah", "--simulated", "--sizes", "2k,8k", "--tasks", "2", "--base-window", "4k",
                         "--out", out.path, "--sandbox", "basic"]
        let run = try await CLI.run(arguments)
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let records = lines("results.jsonl")
        #expect(records.count == 8, "2 sizes × 2 tasks × 2 methods")
        let rlm = records.filter { $0["method"] as? String == "rlm" }
        #expect(rlm.allSatisfy { $0["score"] as? Double == 1 }, "the scripted root finds every needle through the REPL: \(rlm)")
        #expect(rlm.allSatisfy { ($0["turns"] as? Int ?? 0) >= 2 && ($0["tokens"] as? [String: Any])?.isEmpty == false })
        // Each RLM run left its trajectory beside the results, named in its record.
        for record in rlm {
            let path = try #require(record["trajectory"] as? String, "\(record)")
            let log = try String(contentsOf: out.appendingPathComponent(path), encoding: .utf8)
            #expect(log.contains("\"run_finished\""), "\(path)")
        }
        #expect(records.filter { $0["method"] as? String == "base" }.allSatisfy { $0["trajectory"] == nil })
        // The base model sees only the first 4k tokens: at 8k the needle placed at the end is cut away.
        let cutBase = records.first { $0["task"] as? String == "niah-8000-1" && $0["method"] as? String == "base" }
        #expect(cutBase?["truncated"] as? Bool == true)
        #expect(cutBase?["score"] as? Double == 0)
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("| 8k | rlm | 2 | 1.000 |"), "\(summary)")
        #expect(run.stdout.contains("| 2k | base | 2 |"))
        let plot = try String(contentsOf: out.appendingPathComponent("plot.svg"), encoding: .utf8)
        #expect(plot.hasPrefix("<svg") && plot.contains("<polyline"))

        // Resume with one more task per size: only the new tasks run.
        let more = try await CLI.run(arguments.map { $0 == "2" ? "3" : $0 } + ["--resume"])
        #expect(more.exitCode != 0, "other settings than the saved ones are refused")
        #expect(more.stderr.contains("other settings"), "\(more.stderr)")
        let again = try await CLI.run(arguments + ["--resume"])
        #expect(again.exitCode == 0, "stderr: \(again.stderr)")
        #expect(lines("results.jsonl").count == 8, "nothing was run twice")
    }

    @Test func everySuiteRunsThroughTheSimulatedServer() async throws {
        defer { try? FileManager.default.removeItem(at: out) }
        for suite in ["oolong", "pairs", "codeqa"] {
            let folder = out.appendingPathComponent(suite)
            let run = try await CLI.run(["bench", suite, "--simulated", "--sizes", "2k", "--tasks", "2", "--only", "rlm",
                                         "--out", folder.path, "--sandbox", "basic", "--quiet"])
            #expect(run.exitCode == 0, "\(suite) stderr: \(run.stderr)")
            let text = (try? String(contentsOf: folder.appendingPathComponent("results.jsonl"), encoding: .utf8)) ?? ""
            let records = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(records.count == 2)
            #expect(records.allSatisfy { $0["method"] as? String == "rlm" && $0["score"] as? Double == 1 }, "\(suite): \(records)")
            if suite != "codeqa" { #expect(records.allSatisfy { ($0["sub_calls"] as? Int ?? 0) >= 1 }, "labels come from sub-calls") }
        }
    }

    @Test func badFlagsAreRefusedWithTheFix() async throws {
        let sizes = try await CLI.run(["bench", "niah", "--simulated", "--sizes", "lots"])
        #expect(sizes.exitCode == 2)
        #expect(sizes.stderr.contains("8k, 32k, 1m"))
        let resume = try await CLI.run(["bench", "pairs", "--resume"])
        #expect(resume.exitCode == 2)
        #expect(resume.stderr.contains("--out"))
        let repo = try await CLI.run(["bench", "codeqa", "--repo", "/tmp"])
        #expect(repo.stderr.contains("--questions"))
    }

    @Test func engineWithTinyNumbersPrintsEachFigureBesideItsIdeal() async throws {
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try await CLI.run(["bench", "engine", "--calls", "8", "--concurrency", "1,4", "--latency-ms", "5", "--runs", "1",
                                     "--round-trips", "3", "--context-tokens", "2k", "--files", "40",
                                     "--work-dir", out.path, "--json"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        let fanOut = figures.filter { $0["section"] as? String == "fan-out" }
        #expect(fanOut.count == 2)
        #expect(fanOut.allSatisfy { ($0["ideal"] as? Double ?? 0) > 0 && ($0["value"] as? Double ?? 0) > 0 })
        #expect(figures.contains { $0["section"] as? String == "sub-call" })
        #expect(figures.filter { $0["section"] as? String == "REPL" }.count == 6, "three sandbox levels, two figures each")
        #expect(figures.contains { $0["section"] as? String == "load" && ($0["measure"] as? String ?? "").contains("peak RSS of the REPL") })
        #expect(figures.contains { $0["section"] as? String == "directory" && $0["unit"] as? String == "MB/s" })
    }
}
