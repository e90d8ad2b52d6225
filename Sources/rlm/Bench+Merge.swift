import ArgumentParser
import Foundation
import RLMBench
import RLMKit

extension Bench {
    /// `rlm bench merge DIR…`: the folders of a sharded run joined into one results.jsonl, summary.md and plot.svg.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join the folders of a sharded run (--shard K/N) into one summary and plot.",
            discussion: """
                Refuses folders whose suite, seed, sizes, task count, base window, methods or models differ, naming \
                the difference. Writes results.jsonl, summary.md, plot.svg, run.json and the RLM trajectories to \
                --out, and reports tasks that are missing or were done twice (exit status 1, outputs written).
                """)

        @Argument(help: "The shard folders (each written by `rlm bench SUITE --shard K/N`).")
        var folders: [String]
        @Option(help: "Folder for the merged run (default: rlm-bench/SUITE-seedN, as one unsharded run).")
        var out: String?

        func validate() throws {
            guard !folders.isEmpty else { throw ValidationError("name the shard folders to merge: rlm bench merge DIR…") }
        }

        func run() throws {
            let merged: BenchMerge
            do {
                merged = try BenchMerge(folders.map { try BenchMerge.Folder(url: URL(fileURLWithPath: $0)) })
            } catch let error as BenchInputError {
                throw CLIFailure.configuration(error.message)
            }
            let suite = BenchSuite(rawValue: merged.manifest.suite) ?? .niah
            let out = URL(fileURLWithPath: out ?? BenchSuiteRun.defaultOut(suite: suite, seed: merged.manifest.seed, shard: nil))
            let inputs = Set(folders.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path })
            guard !inputs.contains(out.standardizedFileURL.resolvingSymlinksInPath().path) else {
                throw CLIFailure.configuration("--out \(out.path) is one of the folders being merged; give another --out.")
            }
            try PrivateFiles.createDirectory(out)
            let records = try merged.records.map { try copyTrajectory(of: $0, from: merged.sources, to: out) }
            try BenchResultsFile.write(records, to: out.appendingPathComponent("results.jsonl"))
            try merged.manifest.write(to: out)
            try BenchSuiteRun.writeReport(records, title: merged.manifest.title, to: out)
            let problems = merged.problems
            guard problems.isEmpty else {
                for problem in problems { Terminal.error("rlm bench merge: \(problem)") }
                throw CLIFailure.run("the merged run in \(out.path) is incomplete (above); its summary covers "
                                     + "\(records.count) of \(merged.manifest.expectedKeys.count) answers.")
            }
        }

        /// Copies the record's trajectory from its shard folder into `out`, where the record's path then points.
        func copyTrajectory(of record: BenchRecord, from sources: [String: URL], to out: URL) throws -> BenchRecord {
            var record = record
            guard let path = record.trajectory,
                  let source = sources[BenchRunner.key(task: record.task, method: record.method)]?.appendingPathComponent(path),
                  let data = FileManager.default.contents(atPath: source.path) else {
                record.trajectory = nil
                return record
            }
            try PrivateFiles.write(data, to: out.appendingPathComponent(path))
            return record
        }
    }
}
