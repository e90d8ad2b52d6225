import Foundation
import RLMKit

extension REPLConfiguration {
    /// For tests: no sandbox (so it runs anywhere, as any user) and a generous cell timeout for a busy machine.
    public static var testing: REPLConfiguration { REPLConfiguration(cellTimeout: .seconds(60), sandbox: SandboxLevel.none) }
}

/// Runs `body` against a real Python REPL holding `context`, with `sub` answering the code's `llm_query*` calls.
///
/// ```swift
/// try await withTestREPL(context: .text("a b c"), sub: FunctionModel { $0.uppercased() }) { repl in
///     let outcome = try await repl.execute("print(llm_query(context))")
///     #expect(outcome.stdout == "A B C\n")
/// }
/// ```
/// - Parameters:
///   - context: The REPL's `context` variable.
///   - sub: Answers `llm_query`, `llm_query_batched` and `rlm_query*` (as plain calls); nil answers each with an
///     error string, as a run without a sub model would.
///   - configuration: The interpreter, sandbox and limits; `REPLConfiguration.testing` unless told.
///   - body: Sends cells to the session; the REPL lives exactly as long as it does.
public func withTestREPL<Result: Sendable>(context: RLMContext = .text(""), sub: (any LanguageModel)? = nil,
                                           configuration: REPLConfiguration = .testing,
                                           _ body: (REPLSession) async throws -> Result) async throws -> Result {
    guard let sub else { return try await REPLSession.withSession(context: context, configuration: configuration, body) }
    return try await REPLSession.withSession(context: context, configuration: configuration,
                                             subCalls: { request in await answer(request, with: sub) }, body)
}

/// Runs one cell in a fresh REPL holding `context` and returns what it printed, raised and submitted.
public func runCell(_ code: String, context: RLMContext = .text(""), sub: (any LanguageModel)? = nil,
                    configuration: REPLConfiguration = .testing) async throws -> CellOutcome {
    try await withTestREPL(context: context, sub: sub, configuration: configuration) { try await $0.execute(code) }
}

/// Each prompt sent to `model` concurrently; a failure becomes the `"Error: …"` string the code gets in a run.
private func answer(_ request: SubCallRequest, with model: any LanguageModel) async -> [String] {
    await withTaskGroup(of: (Int, String).self, returning: [String].self) { group in
        for (index, prompt) in request.prompts.enumerated() {
            let named = request.model.map { model.withModelName($0) } ?? model
            group.addTask {
                do {
                    return (index, try await named.complete(ModelRequest(messages: [.user(prompt)])).text)
                } catch {
                    return (index, "Error: \(error)")
                }
            }
        }
        var answers = Array(repeating: "", count: request.prompts.count)
        for await (index, text) in group { answers[index] = text }
        return answers
    }
}
