import ArgumentParser
import Foundation
import ModelSimulator
import NIOPosix
import RLMBench
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// One `rlm bench SUITE` run: resolve the models as `rlm ask` does, generate or load the tasks, run them, and
/// write results.jsonl, summary.md and plot.svg.
struct BenchSuiteRun {
    let suite: BenchSuite
    let options: BenchRunOptions
    var models: ModelOptions { options.models }
    var limits: LimitOptions { options.limits }
    /// Tasks given instead of generated ones (codeqa over a repository).
    var fixedTasks: [BenchTask]?

    init(suite: BenchSuite, options: BenchRunOptions) {
        self.suite = suite
        self.options = options
    }

    /// The folder a run writes to when `--out` is not given; a shard's names the shard, so shards never collide.
    static func defaultOut(suite: BenchSuite, seed: UInt64, shard: BenchShard?) -> String {
        "rlm-bench/\(suite.rawValue)-seed\(seed)" + (shard.map { "-shard\($0.index)of\($0.count)" } ?? "")
    }

    func start() async throws {
        let environment = ProcessInfo.processInfo.environment
        let sizes = try BenchSize.parseList(options.sizes)
        let shard = try options.resolvedShard(environment: environment)
        let out = URL(fileURLWithPath: options.out ?? Self.defaultOut(suite: suite, seed: options.seed, shard: shard))
        try PrivateFiles.createDirectory(out)

        var simulator: ModelSimulator?
        defer { if let simulator { Task { await simulator.shutdown() } } }
        let root: any LanguageModel, sub: (any LanguageModel)?
        let config = try ConfigSources.load(environment: environment)
        if options.simulated {
            let server = try await ModelSimulator.start(models: [BenchSimulatedModel.rootName, BenchSimulatedModel.subName]) {
                BenchSimulatedModel.reply(to: $0)
            }
            simulator = server
            root = OpenAICompatibleModel(name: BenchSimulatedModel.rootName, baseURL: server.baseURL)
            sub = OpenAICompatibleModel(name: BenchSimulatedModel.subName, baseURL: server.baseURL)
        } else {
            let (resolvedRoot, resolvedSub, notices) = try await models.resolveEndpoints(environment: environment, config: config)
            for notice in notices where !options.quiet { Terminal.error("rlm: \(notice)") }
            root = resolvedRoot.makeModel(models)
            sub = resolvedSub?.makeModel(models)
        }
        let resolved = limits.resolved(config: config)
        var rlm = RLM(rootModel: root, subModel: sub, limits: resolved.limits,
                      repl: REPLConfiguration(python: options.python ?? environment["RLM_PYTHON"], cellTimeout: resolved.cellTimeout,
                                              sandbox: options.sandbox),
                      subModelWindowTokens: models.subWindow ?? (options.simulated ? 32_000 : nil),
                      budget: resolved.budget, prices: PriceTable.builtIn.merging(config.prices),
                      rootModelWindowTokens: models.modelWindow ?? (options.simulated ? 32_000 : nil),
                      allowedModels: models.allowedModelNames(config: config))

        let manifest = BenchManifest(suite: suite.rawValue, seed: options.seed, sizes: sizes, tasks: options.tasks,
                                     baseWindow: try BenchSize.parse(options.baseWindow), methods: options.methods,
                                     rootModel: root.name, subModel: sub?.name, simulated: options.simulated,
                                     taskIDs: fixedTasks?.map(\.id) ?? BenchTaskSet.ids(suite: suite, sizes: sizes, count: options.tasks),
                                     shard: shard)
        try checkManifest(manifest, in: out)
        let tasks = try fixedTasks.map { shard?.select($0) ?? $0 }
            ?? BenchTaskSet.make(suite: suite, seed: options.seed, sizes: sizes, count: options.tasks, workDirectory: out, shard: shard)
        rlm.subcallCache = try await options.subcallCache.makeCache(config: config, environment: environment)
        if options.parallel > 1 {
            // The tasks in flight draw their sub-calls from one pool of --max-concurrency slots.
            rlm.modelCallLimiter = ConcurrencyLimiter(limit: resolved.limits.maxConcurrency)
        }
        let resultsURL = out.appendingPathComponent("results.jsonl")
        let previous = options.resume ? BenchResultsFile.load(resultsURL) : []
        let done = Set(previous.filter { $0.status != "failed" }.map { BenchRunner.key(task: $0.task, method: $0.method) })
        let results = try BenchResultsFile(url: resultsURL, resume: options.resume)
        let runner = BenchRunner(rlm: rlm, baseModel: root, baseWindowTokens: manifest.baseWindow, methods: options.methods,
                                 resultsDirectory: out)
        let total = tasks.count * options.methods.count
        let bar = BenchProgressBar(total: total, alreadyDone: done.count,
                                   enabled: !options.quiet && isatty(STDERR_FILENO) == 1)
        let parallel = options.parallel
        let run = Task { try await runner.run(tasks, into: results, skipping: done, parallel: parallel, onEvent: bar.handle) }
        let interrupts = InterruptHandler(onInterrupt: { run.cancel() })
        defer { interrupts.stop() }
        let outcome = await run.result
        bar.finish()
        try await results.close()

        let finished = if case .success = outcome { true } else { false }
        let records = try await NIOThreadPool.singleton.runIfActive {
            // Lines are written as answers come; a finished run leaves them in task order, as a sequential run would.
            if finished { try BenchResultsFile.sort(resultsURL, by: manifest.expectedKeys) }
            let records = BenchResultsFile.latest(BenchResultsFile.load(resultsURL))
            try Self.writeReport(records, title: manifest.title, to: out)
            return records
        }
        if let shard {
            Terminal.output("This is shard \(shard) of the run: join the \(shard.count) shard folders with "
                            + "`rlm bench merge FOLDER…` once they are all done.")
        }
        if case .failure(let error) = outcome {
            if error is CancellationError {
                throw CLIFailure(message: "interrupted: \(records.count) of \(total) answers are in \(resultsURL.path); "
                                 + "continue with the same flags and --resume --out \(out.path).", exitCode: 130)
            }
            throw error
        }
    }

    /// Writes summary.md and plot.svg of `records` into `out`, prints the summary and where the files are.
    static func writeReport(_ records: [BenchRecord], title: String, to out: URL) throws {
        let summary = BenchSummary.markdown(records, title: title)
        try PrivateFiles.write(Data(summary.utf8), to: out.appendingPathComponent("summary.md"))
        try PrivateFiles.write(Data(BenchPlot.svg(records, title: title).utf8), to: out.appendingPathComponent("plot.svg"))
        Terminal.output(summary)
        Terminal.output("Results: \(out.appendingPathComponent("results.jsonl").path)\n"
                        + "Summary: \(out.appendingPathComponent("summary.md").path)\n"
                        + "Plot: \(out.appendingPathComponent("plot.svg").path)")
    }

    /// Writes `manifest` as run.json; with `--resume`, first refuses a folder made with other settings or another shard.
    func checkManifest(_ manifest: BenchManifest, in out: URL) throws {
        if options.resume, let saved = try? BenchManifest.load(from: out) {
            var differences = saved.differences(from: manifest)
            if saved.shard != manifest.shard {
                differences.append("shard \(saved.shard?.description ?? "none") against \(manifest.shard?.description ?? "none")")
            }
            if !differences.isEmpty {
                throw CLIFailure.configuration("the run in \(out.path) was made with other settings ("
                    + differences.joined(separator: "; ") + "). Pass the same flags to resume it, or another --out for a new run.")
            }
        }
        try manifest.write(to: out)
    }
}
