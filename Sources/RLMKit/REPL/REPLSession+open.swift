import Foundation

extension REPLSession {
    /// Starts a REPL on its own with `context` loaded, runs `body` against it, then stops every process it started.
    ///
    /// This is the REPL an RLM run gives each node, without a root model: for tests and tools that send cells
    /// themselves (see ``execute(_:)``). The interpreter and sandbox are chosen as in a run:
    /// `configuration.python` (else `python3` on `PATH`) and `configuration.sandbox` (else the strongest that works).
    ///
    /// - Parameters:
    ///   - context: What the REPL's `context` variable holds.
    ///   - configuration: Interpreter, sandbox, cell timeout and resource caps.
    ///   - subCalls: Answers the code's `llm_query*` and `rlm_query*` calls; one string per prompt, in order.
    ///     The default answers each with an error string, as a run without a sub model would.
    ///   - body: Works with the session; the REPL lives exactly as long as it does.
    public static func withSession<Result: Sendable>(
        context: RLMContext,
        configuration: REPLConfiguration = .init(),
        subCalls: @escaping SubCallHandler = { request in
            request.prompts.map { _ in "Error: this REPL has no sub model" }
        },
        _ body: (REPLSession) async throws -> Result
    ) async throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-repl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: scratch) }
        let interpreter = try await PythonLocator.locate(configuration.python)
        let (sandbox, _) = try await SandboxSelector.select(configuration.sandbox, interpreter: interpreter)
        let prepared = try await ContextPreparer.prepareOffThread(context, scratch: scratch)
        return try await withSession(configuration: configuration, interpreter: interpreter, sandbox: sandbox,
                                     context: prepared, subCalls: subCalls, body: body)
    }
}
