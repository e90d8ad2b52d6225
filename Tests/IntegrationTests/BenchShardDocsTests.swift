import Foundation
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The Kubernetes indexed Job and the Slurm array script of docs/benchmarks.md, run here as the schedulers would:
/// one process per index with the scheduler's variables, then the merge. Only the model (the built-in simulated
/// server instead of an API), the sizes and the shared folder are swapped for ones this machine has.
@Suite(.serialized) struct BenchShardDocsTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-docs-\(UUID().uuidString.prefix(8))")
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/benchmarks.md")
    static let endpoint = "--base-url https://api.openai.com/v1 --model gpt-5-mini --api-key-env OPENAI_API_KEY"
    static let local = "--simulated --sandbox basic --quiet"

    /// The code block of the docs that contains `marker`.
    func block(containing marker: String) throws -> String {
        let text = try String(contentsOf: Self.docs, encoding: .utf8)
        let blocks = text.components(separatedBy: "```").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        return try #require(blocks.first { $0.contains(marker) }, "docs/benchmarks.md has no block with \(marker)")
    }

    /// A working folder whose `bin/rlm` is this build's binary.
    func makeRoot() throws {
        let bin = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("rlm").path, withDestinationPath: CLI.binary)
    }

    /// Runs `script` with bash in the working folder, `rlm` on the PATH being this build's binary.
    func bash(_ script: String, _ environment: [String: String]) async throws -> CLI.Run {
        var extra = environment
        extra["PATH"] = root.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try await Subprocess.run(.path(FilePath("/bin/bash")), arguments: ["-c", script],
                                              environment: .custom(CLI.environment(extra)), workingDirectory: FilePath(root.path),
                                              input: .none, output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        let code: Int32 = if case .exited(let value) = result.terminationStatus { value } else { -1 }
        return CLI.Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Every task of the merged run answered once, by both methods.
    func expectWholeRun(_ merge: CLI.Run, folder: URL, tasks: Int) throws {
        #expect(merge.exitCode == 0, "stderr: \(merge.stderr)")
        let lines = try String(contentsOf: folder.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == tasks * 2)
        #expect(merge.stdout.contains("| 2k | rlm |") && merge.stdout.contains("| 4k | base |"), "\(merge.stdout)")
    }

    @Test(.timeLimit(.minutes(5))) func theSlurmArrayScriptRunsEveryShardAndTheMergeJoinsThem() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try makeRoot()
        let script = try block(containing: "#SBATCH --array=")
        let array = try #require(script.firstMatch(of: /#SBATCH --array=(\d+)-(\d+)/))
        let (first, last) = (Int(array.output.1)!, Int(array.output.2)!)
        #expect(script.contains("export RLM_SHARD_COUNT=\(last - first + 1)"), "the count matches the array")
        let local = script.replacingOccurrences(of: "cd /shared/bench", with: "cd \(root.path)")
            .replacingOccurrences(of: Self.endpoint, with: Self.local)
            .replacingOccurrences(of: "--sizes 8k,32k,128k,1m --tasks 5", with: "--sizes 2k,4k --tasks 3")
        #expect(local.contains(Self.local) && local.contains("--tasks 3"), "the docs' flags changed: update this test\n\(script)")
        let runs = try await withThrowingTaskGroup(of: CLI.Run.self) { group in
            for id in first...last {
                group.addTask {
                    try await bash(local, ["SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "\(first)",
                                           "SLURM_ARRAY_TASK_MAX": "\(last)"])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.exitCode == 0 }, "\(runs.map(\.stderr))")
        let submit = try block(containing: "sbatch --dependency")
        let wrap = try #require(submit.firstMatch(of: /--wrap '([^']+)'/)).output.1
        let merge = try await bash(String(wrap).replacingOccurrences(of: "/shared/bench", with: root.path), [:])
        try expectWholeRun(merge, folder: root.appendingPathComponent("rlm-bench/niah-seed1"), tasks: 6)
    }

    @Test(.timeLimit(.minutes(5))) func theKubernetesIndexedJobRunsEveryIndexAndTheMergeJoinsThem() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try makeRoot()
        let job = try block(containing: "completionMode: Indexed")
        let completionsMatch = try #require(job.firstMatch(of: /completions: (\d+)/))
        let completions = try #require(Int(completionsMatch.output.1))
        let count = try #require(job.firstMatch(of: /name: RLM_SHARD_COUNT, value: "(\d+)"/)).output.1
        #expect(Int(count) == completions, "RLM_SHARD_COUNT matches the Job's completions")
        // The container's command, a YAML flow list over two lines.
        let list = try #require(job.firstMatch(of: /command: \[([^\]]+)\]/)).output.1
        // Items split at commas outside quotes ("8k,32k,128k,1m" is one item), then unquoted.
        var words: [String] = [""]
        var quoted = false
        for character in list {
            if character == "\"" { quoted.toggle() } else if character == "," && !quoted { words.append("") } else { words[words.count - 1].append(character) }
        }
        words = words.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(words.first == "rlm")
        let command = words.dropFirst().joined(separator: " ").replacingOccurrences(of: Self.endpoint, with: Self.local)
            .replacingOccurrences(of: "--sizes 8k,32k,128k,1m --tasks 5", with: "--sizes 2k,4k --tasks 3")
        #expect(command.contains(Self.local) && command.contains("--shard auto") && command.contains("--tasks 3"),
                "the docs' command changed: update this test\n\(command)")
        let runs = try await withThrowingTaskGroup(of: CLI.Run.self) { group in
            for index in 0..<completions {
                group.addTask {
                    try await bash("rlm " + command, ["JOB_COMPLETION_INDEX": "\(index)", "RLM_SHARD_COUNT": "\(completions)"])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.exitCode == 0 }, "\(runs.map(\.stderr))")
        let merge = try await bash("rlm bench merge rlm-bench/niah-seed1-shard*of\(completions)", [:])
        try expectWholeRun(merge, folder: root.appendingPathComponent("rlm-bench/niah-seed1"), tasks: 6)
    }
}
