import Foundation

/// What a run needs before its first turn: the interpreter, the sandbox, the model windows, the prepared
/// context and a private scratch folder. A one-question run makes one and drops it; an ``RLMSession`` keeps one.
struct RunEnvironment: Sendable {
    let python: PythonInterpreter
    let sandbox: any REPLSandbox
    let sandboxWarnings: [String]
    let windows: RunWindows
    /// The REPL configuration with its output share fitted to the root window.
    let repl: REPLConfiguration
    let prepared: PreparedContext
    let scratch: URL

    /// Locates Python, resolves the model windows, writes the context out and chooses the sandbox.
    static func prepare(for configuration: RLM, context: RLMContext) async throws -> RunEnvironment {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-context-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            async let locatedPython = PythonLocator.locate(configuration.repl.python)
            async let resolvedWindows = ModelWindows.resolve(for: configuration)
            let prepared = try await ContextPreparer.prepareOffThread(context, scratch: scratch)
            let python = try await locatedPython
            let windows = await resolvedWindows
            var fitted = configuration.repl
            fitted.maxOutputChars = ModelWindows.outputChars(configured: fitted.maxOutputChars, rootWindow: windows.root)
            let (sandbox, warnings) = try await SandboxSelector.select(configuration.repl.sandbox, interpreter: python)
            return RunEnvironment(python: python, sandbox: sandbox, sandboxWarnings: warnings, windows: windows,
                                  repl: fitted, prepared: prepared, scratch: scratch)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
    }

    /// Removes the scratch folder and the context written into it.
    func remove() {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Tells the run's observers and log about the windows and the sandbox.
    func announce(to recorder: EventRecorder) async {
        let windows = windows
        let repl = repl
        await recorder.emit(.modelWindows, trajectory: "0") {
            $0.details = ["root_window_tokens": .number(Double(windows.root.tokens)),
                          "root_window_source": .string(windows.root.source),
                          "sub_window_tokens": .number(Double(windows.sub.tokens)),
                          "sub_window_source": .string(windows.sub.source),
                          "output_chars_per_block": .number(Double(repl.maxOutputChars))]
        }
        let sandbox = sandbox
        let warnings = sandboxWarnings
        await recorder.emit(.sandbox, trajectory: "0") {
            $0.status = sandbox.level.rawValue
            $0.text = sandbox.summary
            $0.details = ["warnings": .array(warnings.map { .string($0) })]
        }
    }
}
