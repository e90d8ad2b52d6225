import Foundation

extension RLMNode {
    // MARK: Host tools

    /// The run's tools as the REPL offers them, each call admitted by the budget and logged.
    func makeTools() -> REPLTools {
        let node = self
        let signatures = configuration.tools.map { REPLTools.Signature(name: $0.name, doc: $0.docstring) }
        return REPLTools(signatures: signatures) { call in await node.callTool(call) }
    }

    /// One tool call: counted as a sub-call, logged, and never raising into the host; a failure becomes the
    /// message of the exception the code gets.
    func callTool(_ call: REPLTools.Call) async -> Result<JSONValue, ToolFailure> {
        if call.name == AnswerGate.checkToolName { return checkAnswer(call.arguments) }
        let id = tree.subCallIDs.next()
        guard let tool = configuration.tools.first(where: { $0.name == call.name }) else {
            return await toolFailed(id: id, tool: call.name, message: "no host tool named \(call.name) is configured")
        }
        do {
            try await tree.ledger.admitChild()
        } catch {
            return await toolFailed(id: id, tool: call.name,
                                    message: "\(error.description). Submit your best answer now with FINAL(...).")
        }
        let started = ContinuousClock.now
        await emit(.toolCallStarted) {
            $0.subCallID = id
            $0.tool = call.name
            $0.text = OutputTruncation.clip(call.arguments.promptText, limit: 4_000)
        }
        do {
            let value = try await tool.perform(call.arguments)
            await emit(.toolCallFinished) {
                $0.subCallID = id
                $0.tool = call.name
                $0.seconds = (ContinuousClock.now - started).seconds
                $0.text = OutputTruncation.clip(value.promptText, limit: 4_000)
            }
            return .success(value)
        } catch {
            let message = error is CancellationError ? "the tool call was cancelled" : Self.describe(error)
            return await toolFailed(id: id, tool: call.name, message: message, started: started)
        }
    }

    /// The REPL's `check_answer(value)`: the problems the host's validator finds, as "path: message" strings.
    /// Free: it reaches no model, so it is neither counted nor logged as a tool call.
    private func checkAnswer(_ arguments: JSONValue) -> Result<JSONValue, ToolFailure> {
        guard let gate = makeAnswerGate() else {
            return .failure(ToolFailure(message: "this run has no answer schema; submit text with FINAL or FINAL_VAR"))
        }
        guard case .object(let fields) = arguments, let value = fields["value"] else {
            return .failure(ToolFailure(message: "call it as check_answer(value)"))
        }
        return .success(.array(gate.problems(value).map { .string($0.description) }))
    }

    private func toolFailed(id: Int, tool: String, message: String, started: ContinuousClock.Instant? = nil) async -> Result<JSONValue, ToolFailure> {
        await emit(.toolCallFinished) {
            $0.subCallID = id
            $0.tool = tool
            $0.seconds = started.map { (ContinuousClock.now - $0).seconds }
            $0.error = message
        }
        return .failure(ToolFailure(message: message))
    }

    /// An error's own words: its `LocalizedError` description when it has one, else its description.
    static func describe(_ error: any Error) -> String {
        if let localized = error as? any LocalizedError, let text = localized.errorDescription { return text }
        return String(describing: error)
    }
}
