import ArgumentParser
import Foundation
import RLMKit

/// The REPL and prompt flags `rlm ask` and `rlm chat` share.
struct REPLOptions: ParsableArguments {
    @Option(help: "Characters of stdout and of stderr shown to the model per code block.")
    var maxOutputChars = 20_000
    @Option(help: "Python interpreter for the REPL. [RLM_PYTHON]")
    var python: String?
    @Option(help: "Isolation of the REPL: strict (bubblewrap namespaces on Linux, Seatbelt on macOS), basic (separate process + rlimits, same user) or none. Default for ask, chat and bench: strict when it works here, else basic with a warning on stderr. rlm serve and rlm mcp run code only at strict unless this flag says basic or none, and exit 2 at start when strict cannot work.")
    var sandbox: SandboxLevel?
    @Option(help: "Memory cap of the REPL process in MiB (default: 3× the context plus 1 GiB, at least 2 GiB).")
    var replMemoryMb: Int?
    @Option(help: "CPU seconds the REPL process may use in all (default: no cap; cells still time out).")
    var replCpuSeconds: Int?
    @Option(help: "A file whose text replaces the system prompt ({context_description} is filled in).")
    var systemPrompt: String?
    @Option(help: "Tune the system prompt for the root model: standard, frugal (fewer, larger sub-calls) or small (small local models). Default: chosen from the model's name.")
    var promptProfile: PromptProfile?

    func validate() throws {
        guard maxOutputChars >= 100 else { throw ValidationError("--max-output-chars must be at least 100.") }
        if let replMemoryMb, replMemoryMb < 64 { throw ValidationError("--repl-memory-mb must be at least 64.") }
        if let replCpuSeconds, replCpuSeconds < 1 { throw ValidationError("--repl-cpu-seconds must be at least 1.") }
    }

    /// The text of `--system-prompt`, read now so a bad path fails before anything starts.
    func systemPromptText() throws -> String? {
        try systemPrompt.map { path -> String in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIFailure.configuration("cannot read the system prompt file \(path). Check the path given to --system-prompt.")
            }
            return text
        }
    }
}

extension REPLOptions {
    /// The level `rlm serve` and `rlm mcp` run every request's code at: `--sandbox` when given, else `strict`,
    /// never a silent fallback. Checked before the server listens; where strict cannot work here this throws a
    /// usage error (exit 2) naming the cause and the flag.
    func serverSandbox(command: String, environment: [String: String]) async throws -> SandboxCheck.Report {
        let level = sandbox ?? .strict
        do {
            return try await SandboxCheck.verify(level, python: python ?? environment["RLM_PYTHON"])
        } catch let unavailable as SandboxUnavailable {
            throw CLIFailure.configuration("\(command) runs the model's code only in the strict sandbox unless --sandbox basic or --sandbox none is given, and \(unavailable) It did not start.")
        } catch {
            throw CLIFailure.configuration("\(command) cannot run code: \(error) It did not start.")
        }
    }
}

/// Everything a command needs to build its ``RLM`` from flags, environment and config files.
struct RLMSetup {
    var models: ModelOptions
    var limits: LimitOptions
    var repl: REPLOptions
    var config: ConfigFile
    var environment: [String: String]
    /// `--route`; nil takes the config files' `route`, else rlm.
    var route: RLMRoute? = nil

    /// Resolves the endpoints (before any request: an untrusted project file stops here) and builds the RLM.
    /// Returns the notices to show and the root model's name.
    func makeRLM(logURL: URL?, streaming: Bool, systemPrompt: String?) async throws -> (rlm: RLM, notices: [String]) {
        let (root, sub, notices) = try await models.resolveEndpoints(environment: environment, config: config)
        let resolved = limits.resolved(config: config)
        var rlm = RLM(
            rootModel: root.makeModel(models),
            subModel: sub?.makeModel(models),
            limits: resolved.limits,
            repl: REPLConfiguration(python: repl.python ?? environment["RLM_PYTHON"], cellTimeout: resolved.cellTimeout,
                                    maxOutputChars: repl.maxOutputChars, sandbox: repl.sandbox,
                                    resources: REPLResourceLimits(memoryMB: repl.replMemoryMb, cpuSeconds: repl.replCpuSeconds)),
            subModelWindowTokens: models.subWindow,
            systemPrompt: systemPrompt,
            logURL: logURL,
            budget: resolved.budget,
            prices: PriceTable.builtIn.merging(config.prices),
            rootModelWindowTokens: models.modelWindow,
            streamRootResponses: streaming,
            promptProfile: repl.promptProfile,
            allowedModels: models.allowedModelNames(config: config),
            tools: try config.makeTools())
        rlm.route = route ?? config.route ?? .rlm
        var all = notices
        if repl.promptProfile == nil && systemPrompt == nil && rlm.effectivePromptProfile != .standard {
            all.append("using the '\(rlm.effectivePromptProfile.rawValue)' prompt profile for \(root.model) (--prompt-profile to change).")
        }
        if !rlm.tools.isEmpty {
            all.append("host tools from the config: \(rlm.tools.map(\.name).joined(separator: ", ")).")
        }
        return (rlm, all)
    }
}
