import Foundation

extension RLMNode {
    // MARK: Sub-calls

    func makeSubCallHandler() -> SubCallHandler {
        let node = self
        return { request in
            await withTaskGroup(of: (Int, String).self, returning: [String].self) { group in
                for (index, prompt) in request.prompts.enumerated() {
                    let context = request.contexts?[safe: index]
                    group.addTask {
                        if request.kind == .rlm {
                            return (index, await node.childRLM(prompt: prompt, context: context))
                        }
                        let model = request.model.map { node.tree.subModel.withModelName($0) } ?? node.tree.subModel
                        return (index, await node.subCall(prompt, model: model))
                    }
                }
                var results = Array(repeating: "", count: request.prompts.count)
                for await (index, answer) in group { results[index] = answer }
                return results
            }
        }
    }

    /// One `llm_query` prompt: admitted by the budget, throttled by the tree's limit, never raising into the REPL.
    func subCall(_ prompt: String, model: any LanguageModel, childTrajectory: String? = nil) async -> String {
        let id = await tree.subCallIDs.next()
        if let refusal = await admitSubCall(id: id, model: model.name, childTrajectory: nil) { return refusal }
        let started = ContinuousClock.now
        await emit(.subCallStarted) {
            $0.subCallID = id
            $0.model = model.name
            $0.promptChars = prompt.count
        }
        do {
            let response = try await tree.modelCalls.run {
                try await model.complete(ModelRequest(messages: [.user(prompt)]))
            }
            await tree.ledger.record(model: model.name, usage: response.usage)
            await emit(.subCallFinished) {
                $0.subCallID = id
                $0.model = model.name
                $0.usage = response.usage
                $0.seconds = (ContinuousClock.now - started).seconds
                $0.text = OutputTruncation.clip(response.text, limit: 4_000)
            }
            return response.text
        } catch {
            await tree.ledger.recordFailure(model: model.name)
            return await subCallFailed(error, id: id, model: model.name, childTrajectory: nil, started: started,
                                       cancelledMessage: "the sub-call was cancelled")
        }
    }

    /// `rlm_query`: a child RLM one level deeper with its own REPL, or a plain sub-call at the depth limit.
    func childRLM(prompt: String, context: JSONValue?) async -> String {
        guard depth < configuration.limits.maxDepth else {
            let text = context.map { prompt + "\n\n" + $0.promptText } ?? prompt
            return await subCall(text, model: tree.subModel)
        }
        let id = await tree.subCallIDs.next()
        let childID = "\(trajectoryID).\(await tree.childIDs.next())"
        if let refusal = await admitSubCall(id: id, model: nil, childTrajectory: childID) { return refusal }
        let started = ContinuousClock.now
        await emit(.subCallStarted) {
            $0.subCallID = id
            $0.model = configuration.rootModel.name
            $0.promptChars = prompt.count
            $0.childTrajectory = childID
            $0.status = "rlm"
        }
        do {
            let outcome = try await tree.childSlots[depth].run {
                // The child's context: the text given, a JSON value as its parsed self, or else the prompt.
                let childContext: RLMContext
                let fileName: String
                switch context {
                case .string(let text)?: (childContext, fileName) = (.text(text), "child-\(childID).txt")
                case let value?: (childContext, fileName) = (.json(try JSONEncoder().encode(value)), "child-\(childID).json")
                case nil: (childContext, fileName) = (.text(prompt), "child-\(childID).txt")
                }
                let prepared = try ContextPreparer.prepare(childContext, scratch: tree.scratch, fileName: fileName)
                defer { try? FileManager.default.removeItem(atPath: prepared.path) }
                let child = RLMNode(tree: tree, query: prompt, depth: depth + 1, trajectoryID: childID,
                                    progress: RunProgress(), isTopLevel: false)
                return try await child.run(context: prepared)
            }
            await emit(.subCallFinished) {
                $0.subCallID = id
                $0.childTrajectory = childID
                $0.seconds = (ContinuousClock.now - started).seconds
                $0.text = OutputTruncation.clip(outcome.answer, limit: 4_000)
                $0.status = outcome.status.rawValue
            }
            return outcome.answer
        } catch {
            return await subCallFailed(error, id: id, model: nil, childTrajectory: childID, started: started,
                                       cancelledMessage: "the child RLM was cancelled")
        }
    }

    /// Counts one sub-call against the budget; when none is left, logs the refusal and returns what the REPL gets.
    private func admitSubCall(id: Int, model: String?, childTrajectory: String?) async -> String? {
        do {
            try await tree.ledger.admitSubCall()
            return nil
        } catch {
            await emit(.subCallFinished) {
                $0.subCallID = id
                $0.model = model
                $0.error = error.description
                $0.childTrajectory = childTrajectory
            }
            return "Error: \(error.description). Submit your best answer now with FINAL(...)."
        }
    }

    /// Logs a failed sub-call or child RLM and returns the error string the REPL gets; a bad key or an unknown
    /// model stops the whole tree.
    private func subCallFailed(_ error: any Error, id: Int, model: String?, childTrajectory: String?,
                               started: ContinuousClock.Instant, cancelledMessage: String) async -> String {
        if let modelError = error as? ModelError, modelError.isConfigurationProblem {
            await tree.ledger.abort(with: modelError)
        }
        let message = error is CancellationError ? cancelledMessage : String(describing: error)
        await emit(.subCallFinished) {
            $0.subCallID = id
            $0.model = model
            $0.childTrajectory = childTrajectory
            $0.seconds = (ContinuousClock.now - started).seconds
            $0.error = message
        }
        return "Error: \(message)"
    }
}
