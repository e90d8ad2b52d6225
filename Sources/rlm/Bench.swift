import ArgumentParser
import Foundation
import RLMBench
import RLMKit

/// `rlm bench SUITE`: the base model against the RLM on seeded tasks, or `rlm bench engine` for the engine alone.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the base model against the RLM on generated tasks, or the engine against its limits.",
        discussion: """
            Each suite generates its tasks from --seed at the --sizes asked for, runs the base model (the input in \
            its prompt, cut to --base-window) and the RLM on the same tasks, and writes results.jsonl (one line per \
            task and method, as it goes), summary.md and plot.svg to --out. --resume continues a run. --parallel N \
            runs N tasks at once; --shard K/N runs one share of the tasks, and `rlm bench merge` joins the shards.
            """,
        subcommands: [NIAH.self, Oolong.self, Pairs.self, CodeQA.self, Engine.self, Merge.self]
    )
}

/// The flags every suite shares, besides the model and limit flags of `rlm ask`.
struct BenchRunOptions: ParsableArguments {
    @Option(help: "Seed of the task generator: the same seed gives the same tasks.")
    var seed: UInt64 = 1
    @Option(help: "Input sizes in tokens, comma-separated (8k, 32k, 128k, 1m, 4m…).")
    var sizes = "8k,32k,128k"
    @Option(help: "Tasks per size.")
    var tasks = 5
    @Option(help: "Tokens of input the base model is given; longer inputs are cut, with a note saying so.")
    var baseWindow = "32k"
    @Option(help: "Run one method only: rlm or base.")
    var only: BenchMethod?
    @Option(help: "Folder for results.jsonl, summary.md and plot.svg (default: rlm-bench/SUITE-seedN, -shardKofN for a shard).")
    var out: String?
    @Flag(help: "Continue the run in --out (or the shard's own folder): tasks already answered are not run again.")
    var resume = false
    @Flag(help: "Answer with the built-in simulated server and its scripted model (proves the harness; no real model).")
    var simulated = false
    @Option(help: "Isolation of the REPL, as for `rlm ask`: strict, basic or none.")
    var sandbox: SandboxLevel?
    @Option(help: "Python interpreter for the REPL. [RLM_PYTHON]")
    var python: String?
    @Flag(name: .shortAndLong, help: "No progress bar.")
    var quiet = false
    @Option(help: "Tasks run at once; their sub-calls share one --max-concurrency limit, each keeps its other limits.")
    var parallel = 1
    @Option(help: ArgumentHelp("Run share K of N of the tasks (K from 1 to N), or read K from the scheduler: auto.",
                               discussion: "auto reads JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)."))
    var shard: String?
    @Option(help: "The number of shards for --shard auto. [RLM_SHARD_COUNT]")
    var shardCount: Int?
    @OptionGroup(title: "Models") var models: ModelOptions
    @OptionGroup(title: "Limits") var limits: LimitOptions
    @OptionGroup(title: "Sub-call cache") var subcallCache: SubcallCacheOptions

    func validate() throws {
        guard tasks >= 1 else { throw ValidationError("--tasks must be at least 1.") }
        do {
            guard try !BenchSize.parseList(sizes).isEmpty else { throw ValidationError("--sizes needs at least one size, e.g. 8k,32k.") }
            _ = try BenchSize.parse(baseWindow)
        } catch let error as BenchInputError {
            throw ValidationError(error.message)
        }
        if resume && out == nil && shard == nil {
            throw ValidationError("--resume needs --out FOLDER: the folder of the run to continue (a shard continues its own).")
        }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1 (tasks run at once).") }
        if shardCount != nil && shard != "auto" {
            throw ValidationError("--shard-count goes with --shard auto; with --shard K/N the count is N.")
        }
        do {
            _ = try resolvedShard(environment: ProcessInfo.processInfo.environment)
        } catch let error as BenchInputError {
            throw ValidationError(error.message)
        }
    }

    /// The share of the tasks this process runs: `--shard K/N`, or `--shard auto` from the scheduler's variables.
    func resolvedShard(environment: [String: String]) throws -> BenchShard? {
        guard let shard else { return nil }
        if shard == "auto" { return try BenchShard.fromScheduler(environment: environment, count: shardCount) }
        return try BenchShard.parse(shard)
    }

    var methods: [BenchMethod] { only.map { [$0] } ?? BenchMethod.allCases }
}

extension BenchMethod: ExpressibleByArgument {}

extension Bench {
    struct NIAH: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "niah", abstract: "One needle in filler text, its position swept across the input (exact match).")
        @OptionGroup var options: BenchRunOptions
        func run() async throws { try await BenchSuiteRun(suite: .niah, options: options).start() }
    }

    struct Oolong: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counting and comparison over records whose labels must be inferred (0.75^|d| for counts).")
        @OptionGroup var options: BenchRunOptions
        func run() async throws { try await BenchSuiteRun(suite: .oolong, options: options).start() }
    }

    struct Pairs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every pair of users that both meet a condition over their records (F1 over the pairs).")
        @OptionGroup var options: BenchRunOptions
        func run() async throws { try await BenchSuiteRun(suite: .pairs, options: options).start() }
    }

    struct CodeQA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "codeqa",
            abstract: "Multiple-choice questions over a generated source tree, or a repository with --repo and --questions.")
        @OptionGroup var options: BenchRunOptions
        @Option(help: "A repository to ask about instead of generated trees (needs --questions).")
        var repo: String?
        @Option(help: "JSON lines: {\"question\": \"...\", \"choices\": [\"...\", ...], \"answer\": \"B\"} (with --repo).")
        var questions: String?

        func validate() throws {
            if (repo == nil) != (questions == nil) { throw ValidationError("--repo and --questions go together: pass both or neither.") }
        }

        func run() async throws {
            var suite = BenchSuiteRun(suite: .codeqa, options: options)
            if let repo, let questions {
                suite.fixedTasks = try CodeQAGenerator.load(questionFile: URL(fileURLWithPath: questions),
                                                            repository: URL(fileURLWithPath: repo))
            }
            try await suite.start()
        }
    }
}
