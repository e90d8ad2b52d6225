import ArgumentParser
import Foundation
import ModelSimulator
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

    /// What a run was made with; `--resume` refuses a folder made with other settings.
    struct Settings: Codable, Equatable {
        var suite: String
        var seed: UInt64
        var sizes: [Int]
        var tasks: Int
        var baseWindow: Int
    }

    func start() async throws {
        let environment = ProcessInfo.processInfo.environment
        let sizes = try BenchSize.parseList(options.sizes)
        let out = URL(fileURLWithPath: options.out ?? "rlm-bench/\(suite.rawValue)-seed\(options.seed)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let settings = Settings(suite: suite.rawValue, seed: options.seed, sizes: sizes, tasks: options.tasks,
                                baseWindow: try BenchSize.parse(options.baseWindow))
        try checkSettings(settings, in: out)

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
        let rlm = RLM(rootModel: root, subModel: sub, limits: resolved.limits,
                      repl: REPLConfiguration(python: options.python ?? environment["RLM_PYTHON"], cellTimeout: resolved.cellTimeout,
                                              sandbox: options.sandbox),
                      subModelWindowTokens: models.subWindow ?? (options.simulated ? 32_000 : nil),
                      budget: resolved.budget, prices: PriceTable.builtIn.merging(config.prices),
                      rootModelWindowTokens: models.modelWindow ?? (options.simulated ? 32_000 : nil),
                      allowedModels: models.allowedModelNames(config: config))

        let tasks = try fixedTasks ?? BenchTaskSet.make(suite: suite, seed: options.seed, sizes: sizes, count: options.tasks,
                                                        workDirectory: out)
        let resultsURL = out.appendingPathComponent("results.jsonl")
        let previous = options.resume ? BenchResultsFile.load(resultsURL) : []
        let done = Set(previous.filter { $0.status != "failed" }.map { BenchRunner.key(task: $0.task, method: $0.method) })
        let results = try BenchResultsFile(url: resultsURL, resume: options.resume)
        let runner = BenchRunner(rlm: rlm, baseModel: root, baseWindowTokens: settings.baseWindow, methods: options.methods,
                                 resultsDirectory: out)
        let total = tasks.count * options.methods.count
        let bar = BenchProgressBar(total: total, alreadyDone: done.count,
                                   enabled: !options.quiet && isatty(STDERR_FILENO) == 1)
        let run = Task { try await runner.run(tasks, into: results, skipping: done) { bar.advance(with: $0) } }
        let interrupts = InterruptHandler(onInterrupt: { run.cancel() })
        defer { interrupts.stop() }
        let outcome = await run.result
        bar.finish()
        try await results.close()

        let records = Self.latest(BenchResultsFile.load(resultsURL))
        let title = "rlm bench \(suite.rawValue): \(root.name)\(options.simulated ? " (built-in simulated server: harness proof)" : ""), "
            + "seed \(options.seed)"
        let summary = BenchSummary.markdown(records, title: title)
        try Data(summary.utf8).write(to: out.appendingPathComponent("summary.md"))
        try Data(BenchPlot.svg(records, title: title).utf8).write(to: out.appendingPathComponent("plot.svg"))
        Terminal.output(summary)
        Terminal.output("Results: \(resultsURL.path)\nSummary: \(out.appendingPathComponent("summary.md").path)\n"
              + "Plot: \(out.appendingPathComponent("plot.svg").path)")
        if case .failure(let error) = outcome {
            if error is CancellationError {
                throw CLIFailure(message: "interrupted: \(records.count) of \(total) answers are in \(resultsURL.path); "
                                 + "continue with the same flags and --resume --out \(out.path).", exitCode: 130)
            }
            throw error
        }
    }

    /// The last record of each (task, method): a retried task replaces its failed attempt.
    static func latest(_ records: [BenchRecord]) -> [BenchRecord] {
        var seen: [String: Int] = [:]
        var kept: [BenchRecord] = []
        for record in records {
            let key = BenchRunner.key(task: record.task, method: record.method)
            if let index = seen[key] { kept[index] = record } else { seen[key] = kept.count; kept.append(record) }
        }
        return kept
    }

    func checkSettings(_ settings: Settings, in out: URL) throws {
        let url = out.appendingPathComponent("run.json")
        if options.resume, let data = FileManager.default.contents(atPath: url.path),
           let saved = try? JSONDecoder().decode(Settings.self, from: data), saved != settings {
            throw CLIFailure.configuration("the run in \(out.path) was made with other settings (suite \(saved.suite), seed "
                + "\(saved.seed), sizes \(saved.sizes.map(BenchSize.label).joined(separator: ",")), \(saved.tasks) tasks, base "
                + "window \(saved.baseWindow)). Pass the same flags to resume it, or another --out for a new run.")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(settings).write(to: url)
    }
}
