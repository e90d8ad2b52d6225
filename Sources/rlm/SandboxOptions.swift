import ArgumentParser
import Foundation
import RLMKit

/// How the REPL process runs: the flags every command that runs an RLM shares.
struct SandboxOptions: ParsableArguments {
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

    func validate() throws {
        guard maxOutputChars >= 100 else { throw ValidationError("--max-output-chars must be at least 100.") }
        if let replMemoryMb, replMemoryMb < 64 { throw ValidationError("--repl-memory-mb must be at least 64.") }
        if let replCpuSeconds, replCpuSeconds < 1 { throw ValidationError("--repl-cpu-seconds must be at least 1.") }
    }

    /// The REPL settings, with the interpreter from the flag, else `RLM_PYTHON`.
    func replConfiguration(environment: [String: String], cellTimeout: Duration) -> REPLConfiguration {
        REPLConfiguration(python: python ?? environment["RLM_PYTHON"], cellTimeout: cellTimeout,
                          maxOutputChars: maxOutputChars, sandbox: sandbox,
                          resources: REPLResourceLimits(memoryMB: replMemoryMb, cpuSeconds: replCpuSeconds))
    }
}
