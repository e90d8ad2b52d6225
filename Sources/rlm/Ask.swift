import ArgumentParser
import Foundation
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// `rlm ask QUERY --context PATH`: one RLM run, answer on stdout.
struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer QUERY about a file, a directory, a glob or stdin.",
        discussion: """
            The endpoint comes from flags, else RLM_BASE_URL / RLM_MODEL / RLM_API_KEY (or OPENAI_API_KEY), \
            else a model server found on this machine (Ollama, llama.cpp, vLLM, LM Studio).
            Exit codes: 0 answered, 1 run failed or stopped by a limit, 2 usage or configuration error.
            """
    )

    @Argument(help: "The question to answer.")
    var query: String

    @Option(name: .long, help: "The input: a file, a directory (loaded as {relative path: text}), a glob, or - for stdin.")
    var context: String

    @Flag(name: .long, help: "Print one JSON object (answer, usage per model, iterations, sub-calls, wall time, log path).")
    var json = false

    @Option(help: "Provider of the root model: openai (any OpenAI-compatible server) or anthropic. [RLM_PROVIDER]")
    var provider: String?
    @Option(help: "Base URL of the root model's API, e.g. http://127.0.0.1:8080/v1. [RLM_BASE_URL]")
    var baseURL: String?
    @Option(help: "Name of the environment variable that holds the API key (never the key itself). [RLM_API_KEY, OPENAI_API_KEY]")
    var apiKeyEnv: String?
    @Option(help: "Root model name. [RLM_MODEL]")
    var model: String?
    @Option(help: "Model behind llm_query; defaults to the root model. [RLM_SUB_MODEL]")
    var subModel: String?
    @Option(help: "Base URL for the sub model; defaults to the root's. [RLM_SUB_BASE_URL]")
    var subBaseURL: String?
    @Option(help: "Provider of the sub model. [RLM_SUB_PROVIDER]")
    var subProvider: String?
    @Option(help: "Environment variable holding the sub model's API key; defaults to the root's key.")
    var subApiKeyEnv: String?
    @Option(help: "Context window of the sub model in tokens (sets how much text one sub-call may carry).")
    var subWindow: Int?

    @Option(help: "Context window of the root model in tokens; older turns are summarised near it (default: known models' windows, else 32K).")
    var modelWindow: Int?

    @Option(help: "Root-loop turns before a last 'answer now' turn (per RLM in the tree).")
    var maxIterations = 30
    @Option(help: "Sub-calls in flight at once, whole tree.")
    var maxConcurrency = 16
    @Option(help: "Levels of the tree that have a REPL; at the last one, rlm_query is a plain sub-call.")
    var maxDepth = 1
    @Option(help: "Sub-calls (llm_query prompts and child RLMs) in the whole tree.")
    var maxSubcalls: Int?
    @Option(help: "Input + output tokens of every model call in the whole tree.")
    var maxTokens: Int?
    @Option(help: "Cost in USD of the whole tree (needs a price for each model: built in for common ones, else [prices] in rlm.toml).")
    var maxCost: Double?
    @Option(help: "Wall time of the run in seconds.")
    var timeout: Double?
    @Option(help: "Consecutive failing code blocks (in one RLM) before it stops.")
    var maxErrors: Int?
    @Option(help: "Seconds one model request may take before it is retried.")
    var requestTimeout: Double = 600
    @Option(help: "Attempts per model request on rate limits, server errors and timeouts.")
    var maxRetries = 5
    @Flag(help: "Stream the root model's replies (default when progress is shown on a terminal).")
    var stream = false
    @Option(help: "Seconds one code block may run before it is interrupted.")
    var cellTimeout: Double = 120
    @Option(help: "Characters of stdout and of stderr shown to the model per code block.")
    var maxOutputChars = 20_000
    @Option(help: "Python interpreter for the REPL. [RLM_PYTHON]")
    var python: String?
    @Option(help: "Isolation of the REPL: strict (namespaces), basic (separate process + rlimits) or none. Default: strict when it works here, else basic with a warning.")
    var sandbox: SandboxLevel?
    @Option(help: "Memory cap of the REPL process in MiB (default: 3× the context plus 1 GiB, at least 2 GiB).")
    var replMemoryMb: Int?
    @Option(help: "CPU seconds the REPL process may use in all (default: no cap; cells still time out).")
    var replCpuSeconds: Int?
    @Option(help: "A file whose text replaces the system prompt ({context_description} is filled in).")
    var systemPrompt: String?
    @Option(help: "Tune the system prompt for the root model: standard, frugal (fewer, larger sub-calls) or small (small local models). Default: chosen from the model's name.")
    var promptProfile: PromptProfile?

    @Option(help: "Where to write the JSON-lines trajectory (default: ~/.cache/rlm/runs/).")
    var log: String?
    @Flag(help: "Write no trajectory log.")
    var noLog = false
    @Flag(name: .shortAndLong, help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        guard maxIterations >= 1 else { throw ValidationError("--max-iterations must be at least 1.") }
        guard maxConcurrency >= 1 else { throw ValidationError("--max-concurrency must be at least 1.") }
        guard maxDepth >= 1 else { throw ValidationError("--max-depth must be at least 1.") }
        if let maxSubcalls, maxSubcalls < 0 { throw ValidationError("--max-subcalls cannot be negative.") }
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1.") }
        if let maxCost, maxCost <= 0 { throw ValidationError("--max-cost must be more than 0 USD.") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be more than 0 seconds.") }
        if let maxErrors, maxErrors < 1 { throw ValidationError("--max-errors must be at least 1.") }
        guard requestTimeout > 0 else { throw ValidationError("--request-timeout must be more than 0 seconds.") }
        guard maxRetries >= 1 else { throw ValidationError("--max-retries must be at least 1 (one attempt).") }
        if let modelWindow, modelWindow < 1_024 { throw ValidationError("--model-window must be at least 1024 tokens.") }
        guard cellTimeout > 0 else { throw ValidationError("--cell-timeout must be more than 0 seconds.") }
        guard maxOutputChars >= 100 else { throw ValidationError("--max-output-chars must be at least 100.") }
        if let subWindow, subWindow < 256 { throw ValidationError("--sub-window must be at least 256 tokens.") }
        if let replMemoryMb, replMemoryMb < 64 { throw ValidationError("--repl-memory-mb must be at least 64.") }
        if let replCpuSeconds, replCpuSeconds < 1 { throw ValidationError("--repl-cpu-seconds must be at least 1.") }
        if log != nil && noLog { throw ValidationError("--log and --no-log contradict each other; pass one.") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let input = try ContextArgument.load(context)
        defer { input.cleanUp() }
        let systemPromptText = try systemPrompt.map { path -> String in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIFailure.configuration("cannot read the system prompt file \(path). Check the path given to --system-prompt.")
            }
            return text
        }

        let config = try ConfigFile.load(environment: environment)
        var resolver = EndpointResolver(environment: environment, config: config)
        let root = try await resolver.resolveRoot(provider: provider, baseURL: baseURL, model: model, apiKeyVariable: apiKeyEnv)
        let sub = try resolver.resolveSub(root: root, provider: subProvider, baseURL: subBaseURL, model: subModel,
                                          apiKeyVariable: subApiKeyEnv)
        let progress = Progress(enabled: !quiet && isatty(STDERR_FILENO) == 1, streaming: stream || (!quiet && isatty(STDERR_FILENO) == 1))
        for notice in resolver.notices { progress.notice(notice, force: !quiet) }

        let logURL = noLog ? nil : URL(fileURLWithPath: log ?? Self.defaultLogPath(environment: environment))
        let requestTimeout = Duration.milliseconds(Int64(self.requestTimeout * 1000))
        let retry = RetryPolicy(maxAttempts: maxRetries)
        let rlm = RLM(
            rootModel: root.makeModel(requestTimeout: requestTimeout, retry: retry),
            subModel: sub?.makeModel(requestTimeout: requestTimeout, retry: retry),
            limits: RLMLimits(maxIterations: maxIterations, maxConcurrency: maxConcurrency, maxDepth: maxDepth),
            repl: REPLConfiguration(python: python ?? environment["RLM_PYTHON"],
                                    cellTimeout: .milliseconds(Int64(cellTimeout * 1000)),
                                    maxOutputChars: maxOutputChars, sandbox: sandbox,
                                    resources: REPLResourceLimits(memoryMB: replMemoryMb, cpuSeconds: replCpuSeconds)),
            subModelWindowTokens: subWindow,
            systemPrompt: systemPromptText,
            logURL: logURL,
            budget: RLMBudget(maxSubCalls: maxSubcalls, maxTokens: maxTokens, maxCostUSD: maxCost,
                              timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }, maxConsecutiveErrors: maxErrors),
            prices: PriceTable.builtIn.merging(config.prices),
            rootModelWindowTokens: modelWindow,
            streamRootResponses: progress.streaming,
            promptProfile: promptProfile)
        if promptProfile == nil && systemPromptText == nil && rlm.effectivePromptProfile != .standard {
            progress.notice("using the '\(rlm.effectivePromptProfile.rawValue)' prompt profile for \(root.model) (--prompt-profile to change).", force: !quiet)
        }

        let query = self.query
        let context = input.context
        let maxIterations = self.maxIterations
        let run = Task {
            try await rlm.complete(query: query, context: context) { event in
                progress.show(event, maxIterations: maxIterations)
            }
        }
        // Ctrl-C cancels the run (its sub-calls and REPL processes) and prints the partial answer; a second one quits.
        let interrupts = InterruptHandler { run.cancel() }
        defer { interrupts.stop() }
        let result: RLMResult
        do {
            result = try await run.value
        } catch {
            throw Self.failure(for: error, logURL: logURL)
        }
        progress.finish()
        if json {
            print(try Self.jsonSummary(result))
        } else {
            print(result.answer)
        }
        if result.status != .answered {
            let reason = result.stopReason == "cancelled" ? "cancelled" : "stopped by \(result.stopReason ?? "a limit")"
            FileHandle.standardError.write(Data("rlm: \(reason) before the model submitted an answer; the text above is the best partial answer.\(logURL.map { " (trajectory log: \($0.path))" } ?? "")\n".utf8))
            throw ExitCode(1)
        }
    }

    static func defaultLogPath(environment: [String: String]) -> String {
        let cache = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let name = "\(formatter.string(from: Date()))-\(UUID().uuidString.prefix(6).lowercased()).jsonl"
        return cache.appendingPathComponent("rlm/runs/\(name)").path
    }

    /// Maps engine errors to a message and SPEC.md's exit code.
    static func failure(for error: any Error, logURL: URL?) -> CLIFailure {
        let logNote = logURL.map { "\n(trajectory log: \($0.path))" } ?? ""
        switch error {
        case let failure as CLIFailure:
            return failure
        case let error as ModelError:
            return CLIFailure(message: "\(error)\(logNote)", exitCode: error.isConfigurationProblem ? 2 : 1)
        case is PythonNotFound, is SandboxUnavailable, is UnpricedModel, is ContextError:
            return .configuration(String(describing: error))
        case let error as REPLError:
            if case .contextUnloadable = error { return .configuration(error.description + logNote) }
            return .run(error.description + logNote)
        case is CancellationError:
            return .run("the run was cancelled.\(logNote)")
        default:
            return .run("the run failed: \(error)\(logNote)")
        }
    }

    static func jsonSummary(_ result: RLMResult) throws -> String {
        struct Summary: Encodable {
            var answer: String
            var status: String
            var stop_reason: String?
            var answer_source: String?
            var usage: [String: ModelUsage]
            var total_usage: TokenUsage
            var cost_usd: Double?
            var iterations: Int
            var sub_calls: Int
            var peak_concurrency: Int
            var wall_seconds: Double
            var log_path: String?
            var context: ContextDescription?
            var host_peak_rss_bytes: Int
            var repl_peak_rss_bytes: Int
        }
        let summary = Summary(answer: result.answer, status: result.status.rawValue, stop_reason: result.stopReason,
                              answer_source: result.answerSource, usage: result.usageByModel,
                              total_usage: result.totalUsage, cost_usd: result.costUSD, iterations: result.iterations,
                              sub_calls: result.subCalls, peak_concurrency: result.peakConcurrency,
                              wall_seconds: result.wallSeconds, log_path: result.logPath, context: result.context,
                              host_peak_rss_bytes: result.hostPeakRSSBytes, repl_peak_rss_bytes: result.replPeakRSSBytes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(summary), as: UTF8.self)
    }
}

extension SandboxLevel: ExpressibleByArgument {}
extension PromptProfile: ExpressibleByArgument {}
