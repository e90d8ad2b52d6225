import ArgumentParser
import Foundation
import RLMKit
import RLMViewer
#if canImport(Glibc)
import Glibc
#endif

/// `rlm ask QUERY --context PATH`: one RLM run, answer on stdout.
struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer QUERY about a file, a directory, a glob or stdin.",
        discussion: """
            The endpoint comes from flags, else RLM_BASE_URL / RLM_MODEL / RLM_API_KEY (or OPENAI_API_KEY), \
            else the config files (rlm.toml in this folder over ~/.config/rlm/config.toml), \
            else a model server found on this machine (Ollama, llama.cpp, vLLM, LM Studio). \
            Limits come from flags, else the config files, else their defaults. \
            A project's rlm.toml may set endpoints and key variables only after `rlm trust rlm.toml`.
            Exit codes: 0 answered, 1 run failed or stopped by a limit, 2 usage or configuration error.
            """
    )

    @Argument(help: "The question to answer.")
    var query: String

    @Option(name: .long, help: "The input: a file, a directory (loaded as {relative path: text}), a glob, or - for stdin.")
    var context: String

    @Flag(name: .long, help: "Print one JSON object on every exit, failures included (status, error, exit_code, answer, usage per model, iterations, sub-calls, wall time, log path).")
    var json = false

    @Flag(help: "Print, before any model call, the context's size in tokens, each model's window and where it came from, the route auto would take, and what one pass of the sub model over the whole context costs; then exit 0. Makes no completion request (a local server may be asked its window).")
    var estimate = false
    @OptionGroup(title: "Route")
    var routing: RouteOptions

    @OptionGroup(title: "Typed answer")
    var answerShape: SchemaOptions
    @OptionGroup(title: "Models")
    var models: ModelOptions
    @OptionGroup(title: "Limits")
    var limits: LimitOptions
    @OptionGroup(title: "REPL")
    var repl: REPLOptions
    @OptionGroup(title: "Sub-call cache")
    var subcallCache: SubcallCacheOptions

    @Flag(help: "Stream the root model's replies (default when progress is shown on a terminal).")
    var stream = false
    @Option(help: "Where to write the JSON-lines trajectory (default: $XDG_CACHE_HOME/rlm/runs, else ~/.cache/rlm/runs; created private, 0700).")
    var log: String?
    @Flag(help: "Write no trajectory log.")
    var noLog = false
    @Flag(name: .shortAndLong, help: "No progress on stderr.")
    var quiet = false
    @Flag(name: .long, help: "Also show each code block and its output, and each sub-call, as they happen (on a terminal or not).")
    var verbose = false
    @Flag(name: .long, help: "Follow the run in a browser: serves a live view on 127.0.0.1 and prints its URL (opens it when there is a desktop).")
    var view = false

    func validate() throws {
        if log != nil && noLog { throw ValidationError("--log and --no-log contradict each other; pass one.") }
        if verbose && quiet { throw ValidationError("--verbose and --quiet contradict each other; pass one.") }
        if view && noLog { throw ValidationError("--view follows the trajectory log, which --no-log turns off; drop one of them.") }
    }

    func run() async throws {
        if estimate { return try await printEstimate() }
        let started = ContinuousClock.now
        let gate = ReportGate()
        var logURL: URL?
        let report: RunReport
        do {
            report = RunReport(result: try await answer(logURL: &logURL, started: started, gate: gate))
        } catch {
            report = RunReport(error: error, logURL: logURL, wallSeconds: (ContinuousClock.now - started).seconds)
        }
        if gate.claim(exitCode: report.exitCode) { report.emit(json: json) }
        // A second Ctrl-C may have printed its own report first: exit as that report says.
        let exitCode = gate.exitCode ?? report.exitCode
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    /// Resolves the configuration and runs the RLM; `logURL` is set as soon as it is known.
    /// `gate` lets only one report reach stdout should a second Ctrl-C race the run's own ending.
    func answer(logURL: inout URL?, started: ContinuousClock.Instant, gate: ReportGate) async throws -> RLMResult {
        let environment = ProcessInfo.processInfo.environment
        let schema = try await answerShape.load()
        let input = try await ContextArgument.load(context)
        defer { input.cleanUp() }
        let systemPromptText = try repl.systemPromptText()

        // Before any network request: an untrusted project file that names an endpoint stops the run here.
        let config = try ConfigSources.load(environment: environment)
        let interactive = !quiet && isatty(STDERR_FILENO) == 1
        let prices = PriceTable.builtIn.merging(config.prices)
        let progress = Progress(enabled: interactive, verbose: verbose, statusLine: interactive,
                                streaming: stream || interactive, prices: prices)
        logURL = noLog ? nil : URL(fileURLWithPath: log ?? Self.defaultLogPath(environment: environment))
        let setup = RLMSetup(models: models, limits: limits, repl: repl, config: config, environment: environment,
                             route: routing.route)
        var (rlm, notices) = try await setup.makeRLM(logURL: logURL, streaming: progress.streaming, systemPrompt: systemPromptText)
        rlm.answerSchema = schema
        rlm.subcallCache = try await subcallCache.makeCache(config: config, environment: environment)
        rlm.maxSchemaAttempts = answerShape.maxSchemaAttempts
        for notice in notices { progress.notice(notice, force: !quiet) }

        var viewer: LiveViewServer?
        if view { viewer = try await startLiveView(logPath: logURL?.path) }
        let query = self.query
        let context = input.context
        let maxIterations = rlm.limits.maxIterations
        let (route, quiet) = (rlm.route, quiet)
        let run = Task {
            try await rlm.complete(query: query, context: context) { event in
                if let line = RouteOptions.announcement(of: event, configured: route) { progress.notice(line, force: !quiet) }
                progress.show(event, maxIterations: maxIterations)
            }
        }
        // Ctrl-C cancels the run (its sub-calls and REPL processes) and prints the partial answer; a second one quits.
        let json = self.json
        let quitLogURL = logURL
        let interrupts = InterruptHandler(onInterrupt: { run.cancel() }, onQuit: {
            let failure = CLIFailure(message: "interrupted twice: quit at once, without the partial answer.", exitCode: 130)
            let report = RunReport(error: failure, logURL: quitLogURL, wallSeconds: (ContinuousClock.now - started).seconds)
            guard gate.claim(exitCode: 130) else { return false }
            if json { Terminal.output(report.jsonText()) }
            return true
        })
        defer { interrupts.stop() }
        progress.start()
        let result: RLMResult
        do {
            result = try await run.value
        } catch {
            progress.finish()
            await viewer?.stop()
            throw error
        }
        progress.finish()
        await viewer?.stop()
        return result
    }

    /// `--view`: serves the live page for this run's log and says where; opens it when there is a desktop.
    private func startLiveView(logPath: String?) async throws -> LiveViewServer? {
        guard let logPath else { return nil }
        do {
            let server = try await LiveViewServer.start(logPath: logPath)
            let opened = BrowserOpener.open(server.url)
            Terminal.error("rlm: live view at \(server.url) (loopback only\(opened ? "; opened in your browser" : ""))")
            return server
        } catch {
            throw CLIFailure.run("\(error). Run without --view, or follow the log later with `rlm view --live \(logPath)`.")
        }
    }

    /// A new file in the default log folder: `$XDG_CACHE_HOME/rlm/runs`, else `$HOME/.cache/rlm/runs` (else the
    /// account's home). An empty or relative `XDG_CACHE_HOME` is ignored, as the XDG spec says.
    static func defaultLogPath(environment: [String: String]) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let name = "\(formatter.string(from: Date()))-\(UUID().uuidString.prefix(6).lowercased()).jsonl"
        return PrivateFiles.cacheFolder(environment: environment).appendingPathComponent("runs/\(name)").path
    }
}

extension SandboxLevel: ExpressibleByArgument {}
extension PromptProfile: ExpressibleByArgument {}
