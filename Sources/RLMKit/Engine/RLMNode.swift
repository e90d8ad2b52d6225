import Foundation

/// One RLM of the tree: its own REPL and root loop.
struct RLMNode: Sendable {
    let tree: RunTree
    let query: String
    /// 1 for the top-level RLM.
    let depth: Int
    let trajectoryID: String
    let progress: RunProgress
    let isTopLevel: Bool

    /// What the loop found before the totals are added.
    struct Outcome: Sendable {
        var answer: String
        var status: RLMResult.Status
        var stopReason: StopReason?
        var source: String?
        var iterations: Int
        var context: ContextDescription?
        var replPeakRSSBytes = 0
        /// What ended a failed run.
        var error: String?
        /// With an answer schema: the value submitted (see ``RLMResult/answerJSON``).
        var answerJSON: JSONValue?
        /// With an answer schema: why the last submission was refused, when no later one fitted.
        var schemaViolations: [SchemaViolation]?
    }

    var configuration: RLM { tree.configuration }

    func emit(_ kind: RLMEvent.Kind, _ fill: @Sendable (inout RLMEvent) -> Void = { _ in }) async {
        await tree.recorder.emit(kind, trajectory: trajectoryID, fill)
    }

    /// Starts this RLM's REPL over `context` and runs the loop in it.
    func run(context prepared: PreparedContext) async throws -> Outcome {
        let subCalls = makeSubCallHandler()
        return try await REPLSession.withSession(configuration: tree.repl, interpreter: tree.python,
                                                 sandbox: tree.sandbox, context: prepared,
                                                 subCalls: subCalls, tools: makeTools()) { repl in
            var description = await repl.contextDescription ?? ContextDescription(type: "unknown")
            let notes = (description.notes ?? []) + prepared.notes
            description.notes = notes.isEmpty ? nil : notes
            await announceContext(description, loadSeconds: await repl.contextLoadSeconds)
            var conversation = makeConversation(description: description)
            return try await answer(in: repl, description: description, conversation: &conversation)
        }
    }

    /// Runs the loop in `repl` on `conversation` (which holds the question as its last message); a budget that
    /// runs out gives the partial answer.
    func answer(in repl: REPLSession, description: ContextDescription, conversation: inout Conversation) async throws -> Outcome {
        var outcome: Outcome
        do {
            try await installAnswerSchema(in: repl)
            outcome = try await loop(repl: repl, conversation: &conversation)
        } catch let exhausted as BudgetExhausted {
            outcome = RLMRun.partial(progress, reason: exhausted.reason)
        }
        outcome.context = description
        outcome.replPeakRSSBytes = await repl.peakRSSBytes
        return outcome
    }

    /// Tells observers the context is in the REPL and what it is; `reused` when a session loaded it earlier.
    func announceContext(_ loaded: ContextDescription, loadSeconds: Double, reused: Bool = false) async {
        await emit(.contextLoaded) {
            $0.seconds = loadSeconds
            var details: [String: JSONValue] = [
                "type": .string(loaded.type), "chars": .number(Double(loaded.size)),
                "python": .string(tree.python.version), "depth": .number(Double(depth)),
                "notes": .array(Self.inputNotes(loaded).map { .string($0) })]
            if reused { details["reused"] = .bool(true) }
            $0.details = details
        }
    }

    /// What the user should hear about their input: replaced bytes, skipped files.
    static func inputNotes(_ description: ContextDescription) -> [String] {
        var notes = description.notes ?? []
        if let replaced = description.replacedInvalidUTF8, replaced > 0 {
            notes.append("\(replaced) invalid UTF-8 sequence(s) in the context were replaced by U+FFFD")
        }
        return notes
    }

    /// The system prompt and the first turn for this RLM's question.
    func makeConversation(description: ContextDescription) -> Conversation {
        let limits = configuration.limits
        let subModel = tree.subModel
        let facts = PromptFacts(description: description, maxIterations: limits.maxIterations,
                                maxOutputChars: tree.repl.maxOutputChars,
                                maxConcurrency: limits.maxConcurrency,
                                subCallChars: tree.windows.sub.promptChars,
                                subModelName: subModel.name, remainingDepth: limits.maxDepth - depth,
                                cellTimeoutSeconds: Int(tree.repl.cellTimeout.seconds.rounded()),
                                profile: configuration.effectivePromptProfile, tools: configuration.tools)
        var system = configuration.systemPrompt.map {
            $0.replacingOccurrences(of: "{context_description}", with: Prompts.describe(description))
                + Prompts.toolsSection(configuration.tools)
        } ?? Prompts.system(facts)
        if let gate = makeAnswerGate() {
            system += Prompts.answerSchemaSection(gate.schema, maxAttempts: gate.maxAttempts)
        }
        return Conversation(system: system, firstTurn: Prompts.firstTurn(query: query, maxIterations: limits.maxIterations))
    }

    private func loop(repl: REPLSession, conversation: inout Conversation) async throws -> Outcome {
        let limits = configuration.limits
        var consecutiveErrors = 0
        var gate = makeAnswerGate()
        /// Set once the model was told its next turn is its last, with the limit that ends the run after it.
        var lastTurnReason: StopReason?

        /// Counts a failed turn or block; stops this RLM once `--max-errors` of them came in a row.
        func countFailure(_ failed: Bool) throws {
            consecutiveErrors = failed ? consecutiveErrors + 1 : 0
            if let limit = configuration.budget.maxConsecutiveErrors, consecutiveErrors >= limit {
                throw BudgetExhausted(reason: .maxErrors, detail: "max-errors: \(limit) failed turns or code blocks in a row")
            }
        }

        for iteration in 1...limits.maxIterations + 1 {
            try Task.checkCancellation()
            try await stopIfFatal()
            let isLastChance = iteration > limits.maxIterations || lastTurnReason != nil
            await emit(.iterationStarted) { $0.iteration = iteration }
            try await compact(&conversation, repl: repl, iteration: iteration, force: false)
            try await tree.ledger.checkSpend()
            let response = try await askRootCompactingOnOverflow(&conversation, repl: repl, iteration: iteration)
            conversation.append(.assistant(response.text))
            let parsed = ResponseParser.parse(response.text)
            recordProgress(iteration: iteration, prose: Self.prose(of: response.text))

            if parsed.codeBlocks.isEmpty {
                var outputs: [String] = []
                var notes: [String] = []
                var refused = false
                if let bare = parsed.bareFinal {
                    let (submitted, outcome) = try await submitBareFinal(bare, repl: repl)
                    outputs.append(Prompts.blockOutput(index: 0, count: 1, outcome: outcome))
                    if let submitted {
                        switch await submit(submitted.text, source: "reply", literal: submitted.literal,
                                            iteration: iteration, gate: &gate) {
                        case .finished(let outcome): return outcome
                        case .refused(let note): notes.append(note); refused = true
                        }
                    }
                } else if response.finishReason == .length || parsed.hasUnclosedFence {
                    notes.append(Prompts.cutOffNote)
                } else {
                    notes.append(Prompts.noCodeNudge)
                }
                if isLastChance { break }
                try countFailure(!refused)
                let next = await nextUserMessage(outputs: outputs, notes: notes, iteration: iteration)
                conversation.append(.user(next.text))
                lastTurnReason = next.lastTurn
                continue
            }
            var outputs: [String] = []
            var refusal: String?
            for (index, code) in parsed.codeBlocks.enumerated() {
                let outcome = try await repl.execute(code)
                await emit(.codeExecuted) {
                    $0.iteration = iteration
                    $0.code = code
                    $0.stdout = outcome.stdout
                    $0.stderr = outcome.stderr
                    $0.seconds = outcome.seconds
                    if outcome.timedOut { $0.status = "timed_out" } else if outcome.failed { $0.status = "error" }
                    $0.error = outcome.deathReason
                    $0.details = ["stdout_chars": .number(Double(outcome.stdoutTotal)),
                                  "stderr_chars": .number(Double(outcome.stderrTotal))]
                }
                if outcome.interpreterRestarted {
                    await emit(.interpreterRestarted) { $0.iteration = iteration; $0.error = outcome.deathReason }
                    try await installAnswerSchema(in: repl)
                }
                if let final = outcome.final {
                    let skipped = parsed.codeBlocks.count - index - 1
                    switch await submit(final, source: outcome.finalSource, literal: false, iteration: iteration,
                                        skippedBlocks: skipped, gate: &gate) {
                    case .finished(let outcome): return outcome
                    case .refused(let note):
                        outputs.append(Prompts.blockOutput(index: index, count: parsed.codeBlocks.count, outcome: outcome))
                        refusal = note
                    }
                    break
                }
                try Task.checkCancellation()
                try await stopIfFatal()
                outputs.append(Prompts.blockOutput(index: index, count: parsed.codeBlocks.count, outcome: outcome))
                try countFailure(outcome.failed)
            }
            if isLastChance { break }
            var notes: [String] = refusal.map { [$0] } ?? []
            if response.finishReason == .length || parsed.hasUnclosedFence { notes.append(Prompts.cutOffNote) }
            if parsed.mentionsFinalOutsideCode { notes.append(Prompts.proseFinalNote) }
            if parsed.claimsOutput { notes.append(Prompts.imaginedOutputNote) }
            let next = await nextUserMessage(outputs: outputs, notes: notes, iteration: iteration)
            conversation.append(.user(next.text))
            lastTurnReason = next.lastTurn
        }
        return Self.keepingLastRefusal(RLMRun.partial(progress, reason: lastTurnReason ?? .maxIterations), gate: gate)
    }

    private func recordProgress(iteration: Int, prose: String) {
        progress.update(iteration: min(iteration, configuration.limits.maxIterations), prose: prose)
    }

    /// A bad key or unknown model in any sub-call stops the whole tree at once.
    private func stopIfFatal() async throws {
        if let fatal = await tree.ledger.fatalError { throw fatal }
    }

    /// The next user message: code output, notes, what is left of the budget, then the next turn's header or
    /// the last-chance demand, with the limit that ends the run after that last turn: the turns are used up, or
    /// every sub-call the budget allows is made (as with turns, the model gets one turn to submit, then the run
    /// stops with `max_subcalls`).
    private func nextUserMessage(outputs: [String], notes: [String], iteration: Int) async -> (text: String, lastTurn: StopReason?) {
        let maxIterations = configuration.limits.maxIterations
        let outputs = Prompts.bounded(outputs, totalChars: 2 * tree.repl.maxOutputChars)
        var notes = notes
        if let budget = await tree.ledger.remainingSummary() { notes.append(budget) }
        let lastTurn: StopReason? = iteration >= maxIterations ? .maxIterations
            : await tree.ledger.subCallsSpent ? .maxSubCalls : nil
        if lastTurn == .maxSubCalls, let limit = configuration.budget.maxSubCalls {
            notes.append("All \(limit) sub-calls of --max-subcalls are used: llm_query and rlm_query will only return errors.")
        }
        if let lastTurn {
            return ((outputs + notes + [Prompts.lastTurn(query: query)]).joined(separator: "\n\n"), lastTurn)
        }
        return (Prompts.feedback(outputs: outputs, notes: notes, nextTurn: iteration + 1,
                                 maxIterations: maxIterations, query: query), nil)
    }

    /// One root-model call, admitted by the budget like a sub-call: with a token or cost limit it carries an
    /// output cap of what the budget leaves, so a root turn never passes the limit either.
    /// `promptCacheKey` marks a turn of this RLM's conversation, whose prefix the provider may cache.
    func askRoot(_ messages: [ChatMessage], iteration: Int, promptCacheKey: String? = nil) async throws -> ModelResponse {
        let model = configuration.rootModel
        let (trajectory, recorder, ledger) = (trajectoryID, tree.recorder, tree.ledger)
        let (window, streaming) = (tree.windows.root.tokens, configuration.streamRootResponses)
        // The top-level root runs alone and may take all the budget leaves; a child's turn shares it.
        let share = isTopLevel ? 1 : configuration.limits.maxConcurrency
        let call: @Sendable () async throws -> ModelResponse = {
            try await ledger.sendRootCall(messages, model: model, windowTokens: window, share: share,
                                          promptCacheKey: promptCacheKey) { request in
                guard streaming else { return try await model.complete(request) }
                // Deltas reach the observer synchronously, in the order they arrive.
                return try await model.complete(request) { delta in
                    recorder.emitDelta(delta, trajectory: trajectory, iteration: iteration)
                }
            }
        }
        let started = ContinuousClock.now
        // A child's root calls share the tree's concurrency limit; the top-level root is never throttled.
        let response = isTopLevel ? try await call() : try await tree.modelCalls.run(call)
        await emit(.modelResponse) {
            $0.iteration = iteration
            $0.model = model.name
            $0.text = response.text
            $0.usage = response.usage
            $0.finishReason = response.finishReason.label
            $0.seconds = (ContinuousClock.now - started).seconds
        }
        return response
    }

    /// Runs a bare `FINAL(...)` reply as code. Unquoted prose inside FINAL(...), which is not Python, is taken
    /// literally (`literal`); any other failure (a `NameError` for an undefined name…) submits nothing and is shown.
    private func submitBareFinal(_ bare: BareFinal, repl: REPLSession) async throws -> ((text: String, literal: Bool)?, CellOutcome) {
        let outcome = try await repl.execute(bare.call)
        if let final = outcome.final { return ((final, false), outcome) }
        if bare.kind == .final && outcome.errorType == "SyntaxError" {
            return ((ResponseParser.literalAnswer(bare), true), outcome)
        }
        return (nil, outcome)
    }

    static func prose(of reply: String) -> String {
        let text = ResponseParser.withoutThinking(reply)
        var lines: [Substring] = []
        var inFence = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                inFence.toggle()
                continue
            }
            if !inFence { lines.append(line) }
        }
        return lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
