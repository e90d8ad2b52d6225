import ArgumentParser
import Foundation
import RLMKit

/// How the REPL runs and what the root model is told: the flags `rlm serve` shares with `rlm ask`.
struct REPLOptions: ParsableArguments {
    @Option(help: "Characters of stdout and of stderr shown to the model per code block.")
    var maxOutputChars = 20_000
    @Option(help: "Python interpreter for the REPL. [RLM_PYTHON]")
    var python: String?
    @Option(help: "Isolation of the REPL: strict (namespaces), basic (separate process + rlimits) or none. Default: strict when it works here, else basic with a warning.")
    var sandbox: SandboxLevel?
    @Option(help: "Memory cap of each REPL process in MiB (default: 3× the context plus 1 GiB, at least 2 GiB).")
    var replMemoryMb: Int?
    @Option(help: "CPU seconds each REPL process may use in all (default: no cap; cells still time out).")
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

    /// The text of `--system-prompt`, read once.
    func systemPromptText() throws -> String? {
        try systemPrompt.map { path in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIFailure.configuration("cannot read the system prompt file \(path). Check the path given to --system-prompt.")
            }
            return text
        }
    }

    func configuration(environment: [String: String], cellTimeout: Duration) -> REPLConfiguration {
        REPLConfiguration(python: python ?? environment["RLM_PYTHON"], cellTimeout: cellTimeout,
                          maxOutputChars: maxOutputChars, sandbox: sandbox,
                          resources: REPLResourceLimits(memoryMB: replMemoryMb, cpuSeconds: replCpuSeconds))
    }
}
