import Foundation
import Testing

/// `rlm bench --parallel`, `--shard K/N` / `--shard auto` and `rlm bench merge` through the real binary, against the
/// built-in simulated server.
@Suite(.serialized) struct BenchScaleTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-scale-\(UUID().uuidString.prefix(8))")
    let niah = ["bench", "niah", "--simulated", "--sizes", "2k,8k", "--tasks", "3", "--sandbox", "basic", "--quiet"]

    /// results.jsonl as lines of sorted-key JSON, without the one field that measures time.
    func timelessResults(_ folder: URL) -> [String] {
        let text = (try? String(contentsOf: folder.appendingPathComponent("results.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line -> String? in
            guard var object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            object["wall_seconds"] = nil
            return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// summary.md without its two wall-time columns (p50, p95), the only figures that differ between two runs.
    func timelessSummary(_ folder: URL) -> String {
        let text = (try? String(contentsOf: folder.appendingPathComponent("summary.md"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("|") else { return String(line) }
            var cells = line.split(separator: "|", omittingEmptySubsequences: false)
            if cells.count > 9 { cells.removeSubrange(7...8) }
            return cells.joined(separator: "|")
        }.joined(separator: "\n")
    }

    @Test(.timeLimit(.minutes(5))) func aParallelRunScoresAsTheSequentialOne() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let (sequential, parallel) = (root.appendingPathComponent("sequential"), root.appendingPathComponent("parallel"))
        let one = try await CLI.run(niah + ["--out", sequential.path])
        #expect(one.exitCode == 0, "stderr: \(one.stderr)")
        let four = try await CLI.run(niah + ["--parallel", "4", "--max-concurrency", "2", "--out", parallel.path])
        #expect(four.exitCode == 0, "stderr: \(four.stderr)")
        let lines = timelessResults(parallel)
        #expect(lines.count == 12, "2 sizes × 3 tasks × 2 methods")
        #expect(lines == timelessResults(sequential), "the same records in the same order, wall time aside")
        #expect(timelessSummary(parallel) == timelessSummary(sequential))
        #expect(timelessSummary(parallel).contains("| 8k | rlm | 3 | 1.000 |"))
        let bad = try await CLI.run(niah + ["--parallel", "0"])
        #expect(bad.exitCode == 2 && bad.stderr.contains("--parallel"), "\(bad.stderr)")
    }

    @Test(.timeLimit(.minutes(5))) func fourShardProcessesMergeIntoTheSummaryOfOneRun() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let whole = root.appendingPathComponent("whole")
        let single = try await CLI.run(niah + ["--out", whole.path])
        #expect(single.exitCode == 0, "stderr: \(single.stderr)")
        // Four processes at once, each with its default --out, which names its shard.
        let runs = try await withThrowingTaskGroup(of: CLI.Run.self) { group in
            for index in 1...4 { group.addTask { try await CLI.run(niah + ["--shard", "\(index)/4"], workingDirectory: root.path) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.exitCode == 0 }, "\(runs.map(\.stderr))")
        let shards = (1...4).map { root.appendingPathComponent("rlm-bench/niah-seed1-shard\($0)of4") }
        #expect(shards.map { timelessResults($0).count } == [4, 4, 2, 2], "tasks 0-5 round robin: 2, 2, 1, 1 tasks × 2 methods")

        let merge = try await CLI.run(["bench", "merge"] + shards.map(\.path), workingDirectory: root.path)
        #expect(merge.exitCode == 0, "stderr: \(merge.stderr)")
        let merged = root.appendingPathComponent("rlm-bench/niah-seed1")
        #expect(timelessSummary(merged) == timelessSummary(whole), "merged:\n\(timelessSummary(merged))\nwhole:\n\(timelessSummary(whole))")
        #expect(timelessResults(merged) == timelessResults(whole))
        #expect(FileManager.default.fileExists(atPath: merged.appendingPathComponent("plot.svg").path))
        // The trajectories came along, where the merged records point.
        let trajectory = merged.appendingPathComponent("trajectories/niah-8000-2.jsonl")
        #expect(((try? String(contentsOf: trajectory, encoding: .utf8)) ?? "").contains("run_finished"))

        // Three of the four: the missing shard and its tasks are named, the outputs still written.
        let partial = try await CLI.run(["bench", "merge", "--out", root.appendingPathComponent("partial").path]
                                        + [shards[0], shards[1], shards[3]].map(\.path))
        #expect(partial.exitCode == 1)
        #expect(partial.stderr.contains("--shard 3/4") && partial.stderr.contains("2 of 12 answers are missing"), "\(partial.stderr)")
        #expect(partial.stderr.contains("niah-2000-2 (base)"), "\(partial.stderr)")
        // A shard given twice: every one of its answers is done twice.
        let twice = try await CLI.run(["bench", "merge", "--out", root.appendingPathComponent("twice").path]
                                      + (shards + [whole]).map(\.path))
        #expect(twice.exitCode == 1)
        #expect(twice.stderr.components(separatedBy: "was done twice").count == 13, "\(twice.stderr)")
        // Merging into one of the inputs would overwrite it.
        let into = try await CLI.run(["bench", "merge", "--out", shards[0].path] + shards.map(\.path))
        #expect(into.exitCode == 2 && into.stderr.contains("one of the folders"), "\(into.stderr)")
    }

    @Test(.timeLimit(.minutes(5))) func autoShardsFromSchedulerVariablesAndMergeRefusesOtherRuns() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let small = ["bench", "niah", "--simulated", "--sizes", "2k", "--tasks", "2", "--only", "base", "--quiet"]
        let kubernetes = try await CLI.run(small + ["--shard", "auto"],
                                           environment: ["JOB_COMPLETION_INDEX": "0", "RLM_SHARD_COUNT": "2"], workingDirectory: root.path)
        #expect(kubernetes.exitCode == 0, "\(kubernetes.stderr)")
        let slurm = try await CLI.run(small + ["--shard", "auto", "--shard-count", "2"],
                                      environment: ["SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_MIN": "7"], workingDirectory: root.path)
        #expect(slurm.exitCode == 0, "\(slurm.stderr)")
        let first = root.appendingPathComponent("rlm-bench/niah-seed1-shard1of2")
        let second = root.appendingPathComponent("rlm-bench/niah-seed1-shard2of2")
        #expect(timelessResults(first).map { $0.contains("niah-2000-0") } == [true])
        #expect(timelessResults(second).map { $0.contains("niah-2000-1") } == [true])

        let none = try await CLI.run(small + ["--shard", "auto", "--shard-count", "2"])
        #expect(none.exitCode == 2 && none.stderr.contains("JOB_COMPLETION_INDEX") && none.stderr.contains("SLURM_ARRAY_TASK_ID"), "\(none.stderr)")
        let noCount = try await CLI.run(small + ["--shard", "auto"], environment: ["JOB_COMPLETION_INDEX": "0"])
        #expect(noCount.exitCode == 2 && noCount.stderr.contains("RLM_SHARD_COUNT"), "\(noCount.stderr)")
        let past = try await CLI.run(small + ["--shard", "auto"], environment: ["JOB_COMPLETION_INDEX": "2", "RLM_SHARD_COUNT": "2"])
        #expect(past.exitCode == 2 && past.stderr.contains("JOB_COMPLETION_INDEX=2"), "\(past.stderr)")
        let range = try await CLI.run(small + ["--shard", "3/2"])
        #expect(range.exitCode == 2 && range.stderr.contains("from 1 to 2"), "\(range.stderr)")

        // A shard of another seed or other sizes is refused, naming the difference.
        let otherSeed = root.appendingPathComponent("seed2")
        _ = try await CLI.run(small + ["--seed", "2", "--shard", "2/2", "--out", otherSeed.path])
        let refused = try await CLI.run(["bench", "merge", first.path, otherSeed.path])
        #expect(refused.exitCode == 2 && refused.stderr.contains("seed 1 against 2"), "\(refused.stderr)")
        let otherSizes = root.appendingPathComponent("sizes")
        _ = try await CLI.run(small.map { $0 == "2k" ? "4k" : $0 } + ["--shard", "2/2", "--out", otherSizes.path])
        let sizes = try await CLI.run(["bench", "merge", first.path, otherSizes.path])
        #expect(sizes.exitCode == 2 && sizes.stderr.contains("sizes 2k against 4k"), "\(sizes.stderr)")
        let merged = try await CLI.run(["bench", "merge", first.path, second.path], workingDirectory: root.path)
        #expect(merged.exitCode == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains("| 2k | base | 2 |"), "\(merged.stdout)")
    }
}
