import Foundation
import Synchronization

/// Collects the run's events, hands them to the observer and writes them to the log, in order.
actor EventRecorder {
    private let started: ContinuousClock.Instant
    private let log: TrajectoryLog?
    private let observer: (@Sendable (RLMEvent) -> Void)?
    private(set) var events: [RLMEvent] = []

    init(started: ContinuousClock.Instant, log: TrajectoryLog?, observer: (@Sendable (RLMEvent) -> Void)?) {
        self.started = started
        self.log = log
        self.observer = observer
    }

    var elapsed: Double { (ContinuousClock.now - started).seconds }

    func emit(_ kind: RLMEvent.Kind, trajectory: String, _ fill: @Sendable (inout RLMEvent) -> Void = { _ in }) async {
        var event = RLMEvent(event: kind, time: elapsed)
        event.trajectory = trajectory
        fill(&event)
        observer?(event)
        // Streaming deltas go to the observer only: the response event that follows holds the whole text.
        guard kind != .modelDelta else { return }
        events.append(event)
        await log?.write(event)
    }
}

/// Hands out ids.
actor Counter {
    private var value = 0
    func next() -> Int {
        value += 1
        return value
    }
}

/// What every RLM of one recursion tree shares: accounting, concurrency, events, the interpreter and sandbox.
struct RunTree: Sendable {
    let configuration: RLM
    let ledger: RunLedger
    /// Model calls in flight anywhere in the tree below the top-level root.
    let modelCalls: ConcurrencyLimiter
    /// Child RLMs alive at each depth (one pool per level, so a parent never waits on its own children's slots).
    let childSlots: [ConcurrencyLimiter]
    let recorder: EventRecorder
    let subCallIDs = Counter()
    let childIDs = Counter()
    let python: PythonInterpreter
    let sandbox: any REPLSandbox
    let scratch: URL

    var subModel: any LanguageModel { configuration.subModel ?? configuration.rootModel }
}

/// The latest state of one RLM, kept outside its loop so a cancelled or timed-out run can still report it.
final class RunProgress: Sendable {
    private let state = Mutex((iterations: 0, lastProse: ""))
    func update(iteration: Int, prose: String) {
        state.withLock {
            $0.iterations = iteration
            if !prose.isEmpty { $0.lastProse = prose }
        }
    }
    var snapshot: (iterations: Int, lastProse: String) { state.withLock { $0 } }
}

/// One run: the top-level RLM and, through `rlm_query`, its children.
struct RLMRun: Sendable {
    let configuration: RLM
    let query: String
    let onEvent: (@Sendable (RLMEvent) -> Void)?

    func run(context: RLMContext) async throws -> RLMResult {
        let started = ContinuousClock.now
        let log = try configuration.logURL.map { try TrajectoryLog(url: $0) }
        let recorder = EventRecorder(started: started, log: log, observer: onEvent)
        let ledger = RunLedger(budget: configuration.budget, prices: configuration.prices, started: started)
        await log?.write(header())
        await recorder.emit(.runStarted, trajectory: "0") { $0.text = query; $0.model = configuration.rootModel.name }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-context-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: scratch) }

        let progress = RunProgress()
        let modelCalls = ConcurrencyLimiter(limit: configuration.limits.maxConcurrency)
        do {
            try checkPrices()
            async let locatedPython = PythonLocator.locate(configuration.repl.python)
            let prepared = try ContextPreparer.prepare(context, scratch: scratch)
            let python = try await locatedPython
            let (sandbox, warnings) = try await SandboxSelector.select(configuration.repl.sandbox, interpreter: python)
            await recorder.emit(.sandbox, trajectory: "0") {
                $0.status = sandbox.level.rawValue
                $0.text = sandbox.summary
                $0.details = ["warnings": .array(warnings.map { .string($0) })]
            }
            let limits = configuration.limits
            let tree = RunTree(configuration: configuration, ledger: ledger, modelCalls: modelCalls,
                               childSlots: (0...limits.maxDepth).map { _ in ConcurrencyLimiter(limit: limits.maxConcurrency) },
                               recorder: recorder, python: python, sandbox: sandbox, scratch: scratch)
            let root = RLMNode(tree: tree, query: query, depth: 1, trajectoryID: "0", progress: progress, isTopLevel: true)
            let outcome = try await withDeadline(ledger.deadline) {
                try await root.run(context: prepared)
            } onTimeout: {
                Self.partial(progress, reason: .timeout)
            }
            return await finish(outcome, started: started, ledger: ledger, recorder: recorder, modelCalls: modelCalls, log: log)
        } catch is CancellationError {
            let outcome = Self.partial(progress, reason: .cancelled)
            return await finish(outcome, started: started, ledger: ledger, recorder: recorder, modelCalls: modelCalls, log: log)
        } catch {
            await recorder.emit(.runFinished, trajectory: "0") {
                $0.status = "failed"
                $0.error = String(describing: error)
            }
            await log?.close()
            throw error
        }
    }

    /// Runs `body`, or gives `onTimeout()` once `deadline` passes (the body is cancelled, REPLs included).
    private func withDeadline<T: Sendable>(_ deadline: ContinuousClock.Instant?, _ body: @escaping @Sendable () async throws -> T,
                                           onTimeout: @escaping @Sendable () -> T) async throws -> T {
        guard let deadline else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            // The body's value, or nil when the deadline task finished first.
            if let value = try await group.next() ?? nil { return value }
            group.cancelAll()
            while (try? await group.next()) != nil {}
            return onTimeout()
        }
    }

    /// The best partial answer of a run that a limit or a cancellation stopped.
    static func partial(_ progress: RunProgress, reason: StopReason) -> RLMNode.Outcome {
        let state = progress.snapshot
        let answer = state.lastProse.isEmpty ? "(no answer: the run stopped (\(reason.rawValue)) before the model submitted one)" : state.lastProse
        return RLMNode.Outcome(answer: answer, status: .partial, stopReason: reason, source: nil,
                               iterations: state.iterations, context: nil)
    }

    private func checkPrices() throws {
        guard configuration.budget.maxCostUSD != nil else { return }
        let models = [configuration.rootModel, configuration.subModel ?? configuration.rootModel]
        for model in models where configuration.prices.price(for: model.name) == nil {
            throw UnpricedModel(model: model.name)
        }
    }

    private func header() -> [String: JSONValue] {
        let sub = configuration.subModel ?? configuration.rootModel
        let budget = configuration.budget
        var header: [String: JSONValue] = [
            "event": .string("header"),
            "rlmkit_version": .string(RLMKitVersion.string),
            "root_model": .string(configuration.rootModel.name),
            "root_endpoint": .string(configuration.rootModel.endpointDescription),
            "sub_model": .string(sub.name),
            "sub_endpoint": .string(sub.endpointDescription),
            "max_iterations": .number(Double(configuration.limits.maxIterations)),
            "max_concurrency": .number(Double(configuration.limits.maxConcurrency)),
            "max_depth": .number(Double(configuration.limits.maxDepth)),
            "cell_timeout_seconds": .number(configuration.repl.cellTimeout.seconds),
            "prompt_profile": .string(configuration.systemPrompt == nil ? configuration.effectivePromptProfile.rawValue : "custom"),
            "query": .string(query),
            "started_at": .string(ISO8601DateFormatter().string(from: Date())),
        ]
        if let value = budget.maxSubCalls { header["max_subcalls"] = .number(Double(value)) }
        if let value = budget.maxTokens { header["max_tokens"] = .number(Double(value)) }
        if let value = budget.maxCostUSD { header["max_cost_usd"] = .number(value) }
        if let value = budget.timeout { header["timeout_seconds"] = .number(value.seconds) }
        if let value = budget.maxConsecutiveErrors { header["max_errors"] = .number(Double(value)) }
        return header
    }

    private func finish(_ outcome: RLMNode.Outcome, started: ContinuousClock.Instant, ledger: RunLedger,
                        recorder: EventRecorder, modelCalls: ConcurrencyLimiter, log: TrajectoryLog?) async -> RLMResult {
        let usage = await ledger.usageByModel
        let total = await ledger.total
        let cost = await ledger.costUSD
        let subCalls = await ledger.subCalls
        let peak = await modelCalls.peak
        let wall = (ContinuousClock.now - started).seconds
        await recorder.emit(.runFinished, trajectory: "0") {
            $0.status = outcome.status.rawValue
            $0.text = outcome.answer
            $0.source = outcome.source
            $0.iteration = outcome.iterations
            $0.usage = total
            $0.seconds = wall
            $0.error = outcome.stopReason?.rawValue
            var details: [String: JSONValue] = ["sub_calls": .number(Double(subCalls)), "peak_concurrency": .number(Double(peak))]
            if let cost { details["cost_usd"] = .number(cost) }
            $0.details = details
        }
        await log?.close()
        return RLMResult(answer: outcome.answer, status: outcome.status, stopReason: outcome.stopReason?.rawValue,
                         answerSource: outcome.source, usageByModel: usage, totalUsage: total, costUSD: cost,
                         iterations: outcome.iterations, subCalls: subCalls, peakConcurrency: peak,
                         wallSeconds: wall, context: outcome.context, logPath: log?.url.path,
                         hostPeakRSSBytes: hostPeakRSSBytes(), replPeakRSSBytes: outcome.replPeakRSSBytes,
                         trajectory: await recorder.events)
    }
}

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
    }

    private var configuration: RLM { tree.configuration }

    private func emit(_ kind: RLMEvent.Kind, _ fill: @Sendable (inout RLMEvent) -> Void = { _ in }) async {
        await tree.recorder.emit(kind, trajectory: trajectoryID, fill)
    }

    /// Starts this RLM's REPL over `context` and runs the loop in it.
    func run(context prepared: PreparedContext) async throws -> Outcome {
        let subCalls = makeSubCallHandler()
        return try await REPLSession.withSession(configuration: configuration.repl, interpreter: tree.python,
                                                 sandbox: tree.sandbox, context: prepared,
                                                 subCalls: subCalls) { repl in
            var description = await repl.contextDescription ?? ContextDescription(type: "unknown")
            description.notes = prepared.notes.isEmpty ? nil : prepared.notes
            let loaded = description
            let loadSeconds = await repl.contextLoadSeconds
            await emit(.contextLoaded) {
                $0.seconds = loadSeconds
                $0.details = ["type": .string(loaded.type), "chars": .number(Double(loaded.size)),
                              "python": .string(tree.python.version), "depth": .number(Double(depth)),
                              "notes": .array(Self.inputNotes(loaded).map { .string($0) })]
            }
            var outcome: Outcome
            do {
                outcome = try await loop(repl: repl, description: description)
            } catch let exhausted as BudgetExhausted {
                outcome = RLMRun.partial(progress, reason: exhausted.reason)
            }
            outcome.context = description
            outcome.replPeakRSSBytes = await repl.peakRSSBytes
            return outcome
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

    private func loop(repl: REPLSession, description: ContextDescription) async throws -> Outcome {
        let limits = configuration.limits
        let subModel = tree.subModel
        let window = configuration.subModelWindowTokens ?? ModelWindows.tokens(for: subModel.name)
        let facts = PromptFacts(description: description, maxIterations: limits.maxIterations,
                                maxOutputChars: configuration.repl.maxOutputChars,
                                maxConcurrency: limits.maxConcurrency, subCallChars: window * 3,
                                subModelName: subModel.name, remainingDepth: limits.maxDepth - depth,
                                profile: configuration.effectivePromptProfile)
        let system = configuration.systemPrompt.map {
            $0.replacingOccurrences(of: "{context_description}", with: Prompts.describe(description))
        } ?? Prompts.system(facts)
        var conversation = Conversation(system: system, firstTurn: Prompts.firstTurn(query: query, maxIterations: limits.maxIterations))
        var nudged = false
        var consecutiveErrors = 0

        for iteration in 1...limits.maxIterations + 1 {
            try Task.checkCancellation()
            try await stopIfFatal()
            let isLastChance = iteration > limits.maxIterations
            await emit(.iterationStarted) { $0.iteration = iteration }
            try await compactIfNeeded(&conversation, repl: repl, iteration: iteration)
            try await tree.ledger.checkSpend()
            let response = try await askRoot(conversation.messages, iteration: iteration)
            conversation.append(.assistant(response.text))
            let parsed = ResponseParser.parse(response.text)
            recordProgress(iteration: iteration, prose: Self.prose(of: response.text))

            if parsed.codeBlocks.isEmpty {
                if let bare = parsed.bareFinal,
                   let answer = try await submitBareFinal(bare, repl: repl, iteration: iteration) {
                    return Outcome(answer: answer, status: .answered, source: "reply", iterations: iteration)
                }
                if isLastChance { break }
                var notes: [String] = []
                if response.finishReason == .length || parsed.hasUnclosedFence {
                    notes.append(Prompts.cutOffNote)
                } else {
                    notes.append(nudged ? Prompts.noCodeNudge + " This turn counts as failed." : Prompts.noCodeNudge)
                    nudged = true
                }
                conversation.append(.user(await nextUserMessage(outputs: [], notes: notes, iteration: iteration)))
                continue
            }
            nudged = false

            var outputs: [String] = []
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
                }
                if let final = outcome.final {
                    await emit(.finalAnswer) { $0.iteration = iteration; $0.text = final; $0.source = outcome.finalSource }
                    return Outcome(answer: final, status: .answered, source: outcome.finalSource, iterations: iteration)
                }
                try Task.checkCancellation()
                try await stopIfFatal()
                consecutiveErrors = outcome.failed ? consecutiveErrors + 1 : 0
                outputs.append(Prompts.blockOutput(index: index, count: parsed.codeBlocks.count, outcome: outcome))
                if let limit = configuration.budget.maxConsecutiveErrors, consecutiveErrors >= limit {
                    throw BudgetExhausted(reason: .maxErrors, detail: "max-errors: \(limit) failing code blocks in a row")
                }
            }
            if isLastChance { break }
            var notes: [String] = []
            if response.finishReason == .length || parsed.hasUnclosedFence { notes.append(Prompts.cutOffNote) }
            if parsed.mentionsFinalOutsideCode { notes.append(Prompts.proseFinalNote) }
            if parsed.claimsOutput { notes.append(Prompts.imaginedOutputNote) }
            conversation.append(.user(await nextUserMessage(outputs: outputs, notes: notes, iteration: iteration)))
        }
        return RLMRun.partial(progress, reason: .maxIterations)
    }

    private func recordProgress(iteration: Int, prose: String) {
        progress.update(iteration: min(iteration, configuration.limits.maxIterations), prose: prose)
    }

    /// A bad key or unknown model in any sub-call stops the whole tree at once.
    private func stopIfFatal() async throws {
        if let fatal = await tree.ledger.fatalError { throw fatal }
    }

    /// The next user message: code output, notes, what is left of the budget, then the next turn's header or
    /// the last-chance demand.
    private func nextUserMessage(outputs: [String], notes: [String], iteration: Int) async -> String {
        let maxIterations = configuration.limits.maxIterations
        var notes = notes
        if let budget = await tree.ledger.remainingSummary() { notes.append(budget) }
        if iteration >= maxIterations {
            return (outputs + notes + [Prompts.lastTurn(query: query)]).joined(separator: "\n\n")
        }
        return Prompts.feedback(outputs: outputs, notes: notes, nextTurn: iteration + 1,
                                maxIterations: maxIterations, query: query)
    }

    private func askRoot(_ messages: [ChatMessage], iteration: Int) async throws -> ModelResponse {
        let model = configuration.rootModel
        let started = ContinuousClock.now
        let request = ModelRequest(messages: messages)
        let trajectory = trajectoryID
        let recorder = tree.recorder
        let call: @Sendable () async throws -> ModelResponse = {
            if configuration.streamRootResponses {
                return try await model.complete(request) { delta in
                    Task { await recorder.emit(.modelDelta, trajectory: trajectory) { $0.text = delta; $0.iteration = iteration } }
                }
            }
            return try await model.complete(request)
        }
        do {
            // A child's root calls share the tree's concurrency limit; the top-level root is never throttled.
            let response = isTopLevel ? try await call() : try await tree.modelCalls.run(call)
            await tree.ledger.record(model: model.name, usage: response.usage)
            await emit(.modelResponse) {
                $0.iteration = iteration
                $0.model = model.name
                $0.text = response.text
                $0.usage = response.usage
                $0.finishReason = response.finishReason.label
                $0.seconds = (ContinuousClock.now - started).seconds
            }
            return response
        } catch {
            await tree.ledger.recordFailure(model: model.name)
            throw error
        }
    }

    /// Runs a bare `FINAL(...)` reply as code; unquoted prose inside FINAL(...) is taken literally.
    private func submitBareFinal(_ bare: BareFinal, repl: REPLSession, iteration: Int) async throws -> String? {
        let outcome = try await repl.execute(bare.call)
        var answer = outcome.final
        if answer == nil && bare.kind == .final && outcome.failed {
            answer = ResponseParser.literalAnswer(bare)
        }
        guard let answer else { return nil }
        await emit(.finalAnswer) { $0.iteration = iteration; $0.text = answer; $0.source = "reply" }
        return answer
    }

    static func prose(of text: String) -> String {
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

    // MARK: History compaction

    /// Summarises older turns when the conversation nears the root model's window; the full history goes
    /// into the REPL variable `history` first.
    private func compactIfNeeded(_ conversation: inout Conversation, repl: REPLSession, iteration: Int) async throws {
        let window = configuration.rootModelWindowTokens ?? ModelWindows.tokens(for: configuration.rootModel.name)
        let before = conversation.estimatedTokens
        guard before > window * 3 / 4, conversation.messages.count > 4 else { return }
        try await repl.setVariable("history", to: .array(conversation.fullHistory.map {
            .object(["role": .string($0.role.rawValue), "content": .string($0.content)])
        }))
        let middle = conversation.compactableMiddle
        let transcript = middle.map { "[\($0.role.rawValue)]\n\(OutputTruncation.clip($0.content, limit: 12_000))" }
            .joined(separator: "\n\n")
        let request = [ChatMessage.system(Prompts.compactionSystem), .user(Prompts.compactionRequest(query: query, transcript: transcript))]
        let summary = try await askRoot(request, iteration: iteration)
        conversation.compact(summary: Prompts.compactedHistory(summary: summary.text, turns: middle.count))
        let after = conversation.estimatedTokens
        await emit(.historyCompacted) {
            $0.iteration = iteration
            $0.text = summary.text
            $0.details = ["messages_summarised": .number(Double(middle.count)),
                          "estimated_tokens_before": .number(Double(before)),
                          "estimated_tokens_after": .number(Double(after)),
                          "window_tokens": .number(Double(window))]
        }
    }

    // MARK: Sub-calls

    private func makeSubCallHandler() -> SubCallHandler {
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

/// The root conversation, with the full history kept aside when older turns are summarised.
struct Conversation {
    private(set) var messages: [ChatMessage]
    private(set) var fullHistory: [ChatMessage]

    init(system: String, firstTurn: String) {
        messages = [.system(system), .user(firstTurn)]
        fullHistory = messages
    }

    /// A reply longer than this is kept cut in the conversation (its full text is in the log): megabytes of
    /// prose from a runaway model would otherwise fill the window on every later turn.
    static let maxKeptReplyChars = 40_000

    mutating func append(_ message: ChatMessage) {
        var kept = message
        if message.role == .assistant && message.content.count > Self.maxKeptReplyChars {
            kept.content = OutputTruncation.clip(message.content, limit: Self.maxKeptReplyChars)
        }
        messages.append(kept)
        fullHistory.append(kept)
    }

    /// About four characters per token.
    var estimatedTokens: Int { messages.reduce(0) { $0 + $1.content.count } / 4 }

    /// Everything between the question and the last exchange.
    var compactableMiddle: ArraySlice<ChatMessage> { messages[2..<max(2, messages.count - 2)] }

    /// Replaces the middle by a summary folded into the first user message, keeping user/assistant alternation.
    mutating func compact(summary: String) {
        guard messages.count > 4 else { return }
        let tail = messages.suffix(2)
        messages = [messages[0], .user(messages[1].content + "\n\n" + summary)] + tail
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
