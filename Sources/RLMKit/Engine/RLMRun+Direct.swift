import Foundation

/// The direct route: one root turn with the whole context in the prompt, and no REPL process.
extension RLMRun {
    /// The route this run takes and why.
    var route: RouteDecision {
        chosenRoute ?? (configuration.route == .rlm ? .configuredRLM : .sessionRLM)
    }

    /// Tells observers and the log that the run started, on which route and why.
    func emitStarted(_ recorder: EventRecorder) async {
        let (query, model, route) = (query, configuration.rootModel.name, route)
        await recorder.emit(.runStarted, trajectory: "0") {
            $0.text = query
            $0.model = model
            $0.route = route.route.rawValue
            var details: [String: JSONValue] = ["route_reason": .string(route.reason)]
            if let tokens = route.promptTokens { details["estimated_prompt_tokens"] = .number(Double(tokens)) }
            if let window = route.rootWindow {
                details["root_window_tokens"] = .number(Double(window.tokens))
                details["root_window_source"] = .string(window.source)
            }
            $0.details = details
        }
    }

    /// Asks the root model once, the context read whole into the prompt after `earlier` exchanges of the same
    /// conversation. The call is a root turn like any other: checked against the budget and the deadline,
    /// recorded in the ledger, logged as `model_response`. A reply cut at the output limit is a partial answer
    /// with stop reason `output_limit`, never an answered one.
    func runDirect(context: RLMContext, earlier: [(question: String, answer: String)],
                   promptCacheKey: String? = nil) async throws -> RLMResult {
        try await recorded(modelCalls: ConcurrencyLimiter(limit: 1), prepare: { [query] _ in
            let input = try await context.promptText()
            return (messages: Prompts.directMessages(context: input.text, earlier: earlier, query: query), notes: input.notes)
        }, answer: { [self] input, recorder, ledger, progress in
            var outcome = try await askDirectly(input.messages, promptCacheKey: promptCacheKey, ledger: ledger,
                                                recorder: recorder, progress: progress)
            let characters = input.messages.reduce(0) { $0 + $1.content.count }
            outcome.context = ContextDescription(type: "direct", chars: characters, notes: input.notes.isEmpty ? nil : input.notes)
            return outcome
        })
    }

    private func askDirectly(_ messages: [ChatMessage], promptCacheKey: String?, ledger: RunLedger, recorder: EventRecorder,
                             progress: RunProgress) async throws -> RLMNode.Outcome {
        let model = configuration.rootModel
        let streaming = configuration.streamRootResponses
        let window = if let known = route.rootWindow { known } else {
            await ModelWindows.resolve(configured: configuration.rootModelWindowTokens, model: model)
        }
        await recorder.emit(.iterationStarted, trajectory: "0") { $0.iteration = 1 }
        let started = ContinuousClock.now
        // Admitted, capped and settled by the ledger like every root turn.
        let response = try await ledger.sendRootCall(messages, model: model, windowTokens: window.tokens, share: 1,
                                                     promptCacheKey: promptCacheKey) { request in
            guard streaming else { return try await model.complete(request) }
            return try await model.complete(request) { recorder.emitDelta($0, trajectory: "0", iteration: 1) }
        }
        await recorder.emit(.modelResponse, trajectory: "0") {
            $0.iteration = 1
            $0.model = model.name
            $0.text = response.text
            $0.usage = response.usage
            $0.finishReason = response.finishReason.label
            $0.seconds = (ContinuousClock.now - started).seconds
        }
        let answer = ResponseParser.withoutThinking(response.text).trimmingCharacters(in: .whitespacesAndNewlines)
        progress.update(iteration: 1, prose: answer)
        if response.finishReason == .length {
            return RLMNode.Outcome(answer: answer, status: .partial, stopReason: .outputLimit, source: "direct",
                                   iterations: 1, context: nil)
        }
        await recorder.emit(.finalAnswer, trajectory: "0") { $0.iteration = 1; $0.text = answer; $0.source = "direct" }
        return RLMNode.Outcome(answer: answer, status: .answered, stopReason: nil, source: "direct", iterations: 1, context: nil)
    }
}
