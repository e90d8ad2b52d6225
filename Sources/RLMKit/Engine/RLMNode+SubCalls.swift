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
                        switch node.subModel(named: request.model) {
                        case .success(let model): return (index, await node.subCall(prompt, model: model))
                        case .failure(let refusal): return (index, refusal.message)
                        }
                    }
                }
                var results = Array(repeating: "", count: request.prompts.count)
                for await (index, answer) in group { results[index] = answer }
                return results
            }
        }
    }

    /// The model for `llm_query(..., model=name)`: the sub model, the root model, or one the run allows.
    func subModel(named name: String?) -> Result<any LanguageModel, SubCallRefusal> {
        guard let name, name != tree.subModel.name else { return .success(tree.subModel) }
        if name == configuration.rootModel.name { return .success(configuration.rootModel) }
        guard configuration.allowedModels.contains(name) else {
            let allowed = ([configuration.rootModel.name, tree.subModel.name] + configuration.allowedModels)
            let unique = allowed.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return .failure(SubCallRefusal(message: "Error: unknown model \(name) (allowed: \(unique.joined(separator: ", ")))"))
        }
        return .success(tree.subModel.withModelName(name))
    }

    /// One `llm_query` prompt: answered by the sub-call cache when it is on and has the answer (a hit costs
    /// nothing and counts against no budget), else sent as ``send(_:id:model:lease:)`` does.
    func subCall(_ prompt: String, model: any LanguageModel, childTrajectory: String? = nil) async -> String {
        let id = tree.subCallIDs.next()
        let request = ModelRequest(messages: [.user(prompt)])
        guard let cache = configuration.subcallCache else { return await send(request, id: id, model: model, lease: nil) }
        let key = SubcallCache.Key(model: model, request: request)
        let lookup: SubcallCache.Lookup
        do {
            lookup = try await cache.lookup(key)
        } catch {
            // Cancelled while an identical call in flight was being answered.
            return await subCallFailed(error, id: id, model: model.name, childTrajectory: nil, started: .now,
                                       cancelledMessage: "the sub-call was cancelled")
        }
        switch lookup {
        case .lead:
            return await send(request, id: id, model: model, lease: SubcallCache.Lease(cache: cache, key: key))
        case .hit(let reply, let source):
            await emitStarted(id: id, model: model.name, prompt: prompt)
            await emit(.subCallFinished) {
                $0.subCallID = id
                $0.model = model.name
                $0.seconds = 0
                $0.text = OutputTruncation.clip(reply.text, limit: SubCallLog.answerChars)
                $0.details = SubcallCacheLog.details(hitFrom: source, saved: reply.usage)
            }
            return reply.text
        case .failed(let message):
            // The identical call in flight failed: the same error, without a second request.
            await emitStarted(id: id, model: model.name, prompt: prompt)
            return await subCallFailed(SubcallCache.SharedFailure(description: message), id: id, model: model.name,
                                       childTrajectory: nil, started: .now, cancelledMessage: "the sub-call was cancelled")
        }
    }

    /// Sends one sub-call: admitted by the budget, throttled by the tree's limit, never raising into the REPL.
    /// With a `lease`, this call leads its flight: the outcome goes to the cache (stored when whole, shared with
    /// the identical calls waiting) on every path.
    private func send(_ request: ModelRequest, id: Int, model: any LanguageModel,
                      lease: SubcallCache.Lease?) async -> String {
        let prompt = request.messages.last?.content ?? ""
        if configuration.budget.maxCostUSD != nil, configuration.prices.price(for: model.name) == nil {
            await lease?.settle(.notSent)
            return await refuse(id: id, model: model.name, childTrajectory: nil,
                                reason: "model \(model.name) has no price, and the run has a cost limit, so it cannot be used. Use a priced model, or add [prices.\"\(model.name)\"] to rlm.toml.")
        }
        // Admission happens inside a concurrency slot: only calls that are about to run hold a reservation,
        // and each admission sees what the calls before it really spent.
        let ledger = tree.ledger
        let node = self
        do {
            return try await tree.modelCalls.run { () async throws -> String in
                let reservation: SpendReservation
                do {
                    reservation = try await ledger.admitSubCall(
                        model: model.name, promptChars: prompt.count,
                        maxOutputTokens: OutputCeiling.tokens(model: model.name, windowTokens: node.tree.windows.sub.tokens, promptChars: prompt.count),
                        share: node.configuration.limits.maxConcurrency)
                } catch let exhausted as BudgetExhausted {
                    await lease?.settle(.notSent)
                    return await node.refuse(id: id, model: model.name, childTrajectory: nil,
                                             reason: "\(exhausted.description). Submit your best answer now with FINAL(...).")
                }
                let started = ContinuousClock.now
                await node.emitStarted(id: id, model: model.name, prompt: prompt)
                do {
                    let response = try await model.complete(request.cappedAt(reservation.outputCap))
                    await ledger.settle(reservation, usage: response.usage)
                    let cacheDetails: [String: JSONValue]?
                    if let lease {
                        cacheDetails = SubcallCacheLog.details(missNote: await lease.settle(.answered(response)))
                    } else {
                        cacheDetails = nil
                    }
                    await node.emit(.subCallFinished) {
                        $0.subCallID = id
                        $0.model = model.name
                        $0.usage = response.usage
                        $0.seconds = (ContinuousClock.now - started).seconds
                        $0.text = OutputTruncation.clip(response.text, limit: SubCallLog.answerChars)
                        $0.details = cacheDetails
                    }
                    return response.text
                } catch {
                    await ledger.settle(reservation, usage: nil)
                    await ledger.recordFailure(model: model.name)
                    // Errors are never stored; the identical calls waiting get the same error, unless this one
                    // was cancelled: then one of them is sent instead.
                    if let lease {
                        await lease.settle(error is CancellationError ? .notSent : .failed(String(describing: error)))
                    }
                    return await node.subCallFailed(error, id: id, model: model.name, childTrajectory: nil, started: started,
                                                    cancelledMessage: "the sub-call was cancelled")
                }
            }
        } catch {
            // Cancelled while waiting for a slot.
            await lease?.settle(.notSent)
            return await subCallFailed(error, id: id, model: model.name, childTrajectory: nil, started: .now,
                                       cancelledMessage: "the sub-call was cancelled")
        }
    }

    /// Logs the start of a plain sub-call.
    private func emitStarted(id: Int, model: String, prompt: String) async {
        await emit(.subCallStarted) {
            $0.subCallID = id
            $0.model = model
            $0.promptChars = prompt.count
            // The start only: the log grows by a bounded amount per sub-call, whatever the prompt's size.
            $0.text = String(prompt.prefix(SubCallLog.promptPreviewChars))
        }
    }

    /// `rlm_query`: a child RLM one level deeper with its own REPL, or a plain sub-call at the depth limit.
    func childRLM(prompt: String, context: JSONValue?) async -> String {
        guard depth < configuration.limits.maxDepth else {
            let text = context.map { prompt + "\n\n" + $0.promptText } ?? prompt
            return await subCall(text, model: tree.subModel)
        }
        let id = tree.subCallIDs.next()
        let childID = "\(trajectoryID).\(tree.childIDs.next())"
        if let refusal = await admitChild(id: id, childTrajectory: childID) { return refusal.message }
        let started = ContinuousClock.now
        await emit(.subCallStarted) {
            $0.subCallID = id
            $0.model = configuration.rootModel.name
            $0.promptChars = prompt.count
            $0.text = String(prompt.prefix(SubCallLog.childQueryChars))
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
                let prepared = try await ContextPreparer.prepareOffThread(childContext, scratch: tree.scratch, fileName: fileName)
                defer { try? FileManager.default.removeItem(atPath: prepared.path) }
                let child = RLMNode(tree: tree, query: prompt, depth: depth + 1, trajectoryID: childID,
                                    progress: RunProgress(), isTopLevel: false)
                return try await child.run(context: prepared)
            }
            let childUsage = await tree.recorder.usage(ofTree: childID)
            await emit(.subCallFinished) {
                $0.subCallID = id
                $0.model = configuration.rootModel.name
                $0.usage = childUsage
                $0.childTrajectory = childID
                $0.seconds = (ContinuousClock.now - started).seconds
                $0.text = OutputTruncation.clip(outcome.answer, limit: SubCallLog.answerChars)
                $0.status = outcome.status.rawValue
            }
            return outcome.answer
        } catch {
            return await subCallFailed(error, id: id, model: nil, childTrajectory: childID, started: started,
                                       cancelledMessage: "the child RLM was cancelled")
        }
    }

    /// Admits a child RLM as one sub-call; when the budget has no room, logs the refusal and returns what the
    /// REPL gets.
    private func admitChild(id: Int, childTrajectory: String) async -> SubCallRefusal? {
        do {
            try await tree.ledger.admitChild()
            return nil
        } catch {
            return SubCallRefusal(message: await refuse(id: id, model: nil, childTrajectory: childTrajectory,
                                                        reason: "\(error.description). Submit your best answer now with FINAL(...)."))
        }
    }

    /// Logs a sub-call that was not made and returns the error string the REPL gets.
    func refuse(id: Int, model: String?, childTrajectory: String?, reason: String) async -> String {
        await emit(.subCallFinished) {
            $0.subCallID = id
            $0.model = model
            $0.error = reason
            $0.childTrajectory = childTrajectory
        }
        return "Error: \(reason)"
    }

    /// Logs a failed sub-call or child RLM and returns the error string the REPL gets; a bad key or an unknown
    /// model stops the whole tree.
    func subCallFailed(_ error: any Error, id: Int, model: String?, childTrajectory: String?,
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

/// How much of a sub-call's text the trajectory log keeps (docs/trajectory.md).
enum SubCallLog {
    /// The start of an `llm_query` prompt, in `subcall_started.text`.
    static let promptPreviewChars = 200
    /// The start of a child RLM's question, in `subcall_started.text`.
    static let childQueryChars = 2_000
    /// The start of a sub-call's answer, in `subcall_finished.text`.
    static let answerChars = 4_000
}

/// Why a sub-call was not made, as the string the model's code receives.
struct SubCallRefusal: Error {
    var message: String
}
