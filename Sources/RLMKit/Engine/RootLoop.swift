import Foundation

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

    func emit(_ kind: RLMEvent.Kind, _ fill: (inout RLMEvent) -> Void = { _ in }) async {
        var event = RLMEvent(event: kind, time: elapsed)
        fill(&event)
        events.append(event)
        observer?(event)
        await log?.write(event)
    }
}

/// Hands out sub-call ids.
actor Counter {
    private var value = 0
    func next() -> Int {
        value += 1
        return value
    }
}

/// One run of the root loop: prepares the context, starts the REPL, and talks to the root model
/// until it submits an answer from code or runs out of turns.
struct RLMRun: Sendable {
    let configuration: RLM
    let query: String
    let onEvent: (@Sendable (RLMEvent) -> Void)?

    init(configuration: RLM, query: String, onEvent: (@Sendable (RLMEvent) -> Void)?) {
        self.configuration = configuration
        self.query = query
        self.onEvent = onEvent
    }

    private var subModel: any LanguageModel { configuration.subModel ?? configuration.rootModel }

    func run(context: RLMContext) async throws -> RLMResult {
        let started = ContinuousClock.now
        let log = try configuration.logURL.map { try TrajectoryLog(url: $0) }
        let recorder = EventRecorder(started: started, log: log, observer: onEvent)
        let ledger = UsageLedger()
        let limiter = ConcurrencyLimiter(limit: configuration.limits.maxConcurrency)
        await log?.write(header())
        await recorder.emit(.runStarted) { $0.text = query; $0.model = configuration.rootModel.name }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-context-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: scratch) }

        do {
            async let locatedPython = PythonLocator.locate(configuration.repl.python)
            let prepared = try ContextPreparer.prepare(context, scratch: scratch)
            let python = try await locatedPython
            let (sandbox, warnings) = try await SandboxSelector.select(configuration.repl.sandbox, interpreter: python)
            await recorder.emit(.sandbox) {
                $0.status = sandbox.level.rawValue
                $0.text = sandbox.summary
                $0.details = ["warnings": .array(warnings.map { .string($0) })]
            }
            let subCalls = makeSubCallHandler(ledger: ledger, limiter: limiter, recorder: recorder)
            let outcome = try await REPLSession.withSession(configuration: configuration.repl, interpreter: python,
                                                             sandbox: sandbox, context: prepared,
                                                             subCalls: subCalls) { repl in
                var description = await repl.contextDescription ?? ContextDescription(type: "unknown")
                description.notes = prepared.notes.isEmpty ? nil : prepared.notes
                let loaded = description
                let loadSeconds = await repl.contextLoadSeconds
                await recorder.emit(.contextLoaded) {
                    $0.seconds = loadSeconds
                    $0.details = ["type": .string(loaded.type), "chars": .number(Double(loaded.size)),
                                  "python": .string(python.version),
                                  "notes": .array(Self.inputNotes(loaded).map { .string($0) })]
                }
                var outcome = try await loop(repl: repl, description: description, ledger: ledger, recorder: recorder)
                outcome.replPeakRSSBytes = await repl.peakRSSBytes
                return outcome
            }
            let result = await finish(outcome, started: started, ledger: ledger, limiter: limiter, recorder: recorder, log: log)
            return result
        } catch {
            await recorder.emit(.runFinished) {
                $0.status = "failed"
                $0.error = String(describing: error)
            }
            await log?.close()
            throw error
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

    private func header() -> [String: JSONValue] {
        var header: [String: JSONValue] = [
            "event": .string("header"),
            "rlmkit_version": .string(RLMKitVersion.string),
            "root_model": .string(configuration.rootModel.name),
            "root_endpoint": .string(configuration.rootModel.endpointDescription),
            "sub_model": .string(subModel.name),
            "sub_endpoint": .string(subModel.endpointDescription),
            "max_iterations": .number(Double(configuration.limits.maxIterations)),
            "max_concurrency": .number(Double(configuration.limits.maxConcurrency)),
            "max_depth": .number(Double(configuration.limits.maxDepth)),
            "cell_timeout_seconds": .number(configuration.repl.cellTimeout.seconds),
            "query": .string(query),
        ]
        header["started_at"] = .string(ISO8601DateFormatter().string(from: Date()))
        return header
    }

    /// What the loop found before the totals are added.
    struct LoopOutcome {
        var answer: String
        var status: RLMResult.Status
        var stopReason: String?
        var source: String?
        var iterations: Int
        var context: ContextDescription?
        var replPeakRSSBytes = 0
    }

    private func loop(repl: REPLSession, description: ContextDescription, ledger: UsageLedger,
                      recorder: EventRecorder) async throws -> LoopOutcome {
        let limits = configuration.limits
        let window = configuration.subModelWindowTokens ?? ModelWindows.tokens(for: subModel.name)
        let facts = PromptFacts(description: description, maxIterations: limits.maxIterations,
                                maxOutputChars: configuration.repl.maxOutputChars,
                                maxConcurrency: limits.maxConcurrency, subCallChars: window * 3,
                                subModelName: subModel.name, remainingDepth: limits.maxDepth - 1)
        let system = configuration.systemPrompt.map {
            $0.replacingOccurrences(of: "{context_description}", with: Prompts.describe(description))
        } ?? Prompts.system(facts)
        var messages: [ChatMessage] = [.system(system), .user(Prompts.firstTurn(query: query, maxIterations: limits.maxIterations))]
        var nudged = false
        var lastProse = ""

        for iteration in 1...limits.maxIterations + 1 {
            let isLastChance = iteration > limits.maxIterations
            await recorder.emit(.iterationStarted) { $0.iteration = iteration }
            let response = try await askRoot(messages, iteration: iteration, ledger: ledger, recorder: recorder)
            messages.append(.assistant(response.text))
            let parsed = ResponseParser.parse(response.text)
            lastProse = prose(of: response.text)

            if parsed.codeBlocks.isEmpty {
                if let bare = parsed.bareFinal,
                   let answer = try await submitBareFinal(bare, repl: repl, iteration: iteration, recorder: recorder) {
                    return LoopOutcome(answer: answer, status: .answered, source: "reply", iterations: iteration, context: description)
                }
                if isLastChance { break }
                var notes: [String] = []
                if response.finishReason == .length || parsed.hasUnclosedFence {
                    notes.append(Prompts.cutOffNote)
                } else {
                    notes.append(nudged ? Prompts.noCodeNudge + " This turn counts as failed." : Prompts.noCodeNudge)
                    nudged = true
                }
                messages.append(.user(nextUserMessage(outputs: [], notes: notes, iteration: iteration)))
                continue
            }
            nudged = false

            var outputs: [String] = []
            for (index, code) in parsed.codeBlocks.enumerated() {
                let outcome = try await repl.execute(code)
                await recorder.emit(.codeExecuted) {
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
                    await recorder.emit(.interpreterRestarted) { $0.iteration = iteration; $0.error = outcome.deathReason }
                }
                if let final = outcome.final {
                    await recorder.emit(.finalAnswer) { $0.iteration = iteration; $0.text = final; $0.source = outcome.finalSource }
                    return LoopOutcome(answer: final, status: .answered, source: outcome.finalSource,
                                       iterations: iteration, context: description)
                }
                outputs.append(Prompts.blockOutput(index: index, count: parsed.codeBlocks.count, outcome: outcome))
            }
            if isLastChance { break }
            var notes: [String] = []
            if response.finishReason == .length || parsed.hasUnclosedFence { notes.append(Prompts.cutOffNote) }
            if parsed.mentionsFinalOutsideCode { notes.append(Prompts.proseFinalNote) }
            if parsed.claimsOutput { notes.append(Prompts.imaginedOutputNote) }
            messages.append(.user(nextUserMessage(outputs: outputs, notes: notes, iteration: iteration)))
        }
        // No answer even after the last-chance turn: return what the model last said, marked partial.
        let partial = lastProse.isEmpty ? "(no answer: the model did not submit one within \(limits.maxIterations) turns)" : lastProse
        return LoopOutcome(answer: partial, status: .partial, stopReason: "max_iterations", source: nil,
                           iterations: limits.maxIterations, context: description)
    }

    /// The next user message: code output and notes, then either the next turn's header or the last-chance demand.
    private func nextUserMessage(outputs: [String], notes: [String], iteration: Int) -> String {
        let maxIterations = configuration.limits.maxIterations
        if iteration >= maxIterations {
            var parts = outputs + notes
            parts.append(Prompts.lastTurn(query: query))
            return parts.joined(separator: "\n\n")
        }
        return Prompts.feedback(outputs: outputs, notes: notes, nextTurn: iteration + 1,
                                maxIterations: maxIterations, query: query)
    }

    private func askRoot(_ messages: [ChatMessage], iteration: Int, ledger: UsageLedger,
                         recorder: EventRecorder) async throws -> ModelResponse {
        let model = configuration.rootModel
        let started = ContinuousClock.now
        do {
            let response = try await model.complete(ModelRequest(messages: messages))
            await ledger.record(model: model.name, usage: response.usage, isSubCall: false)
            await recorder.emit(.modelResponse) {
                $0.iteration = iteration
                $0.model = model.name
                $0.text = response.text
                $0.usage = response.usage
                $0.finishReason = response.finishReason.label
                $0.seconds = (ContinuousClock.now - started).seconds
            }
            return response
        } catch {
            await ledger.recordFailure(model: model.name, isSubCall: false)
            throw error
        }
    }

    /// Runs a bare `FINAL(...)` reply as code; unquoted prose inside FINAL(...) is taken literally.
    private func submitBareFinal(_ bare: BareFinal, repl: REPLSession, iteration: Int,
                                 recorder: EventRecorder) async throws -> String? {
        let outcome = try await repl.execute(bare.call)
        var answer = outcome.final
        if answer == nil && bare.kind == .final && outcome.failed {
            answer = ResponseParser.literalAnswer(bare)
        }
        guard let answer else { return nil }
        await recorder.emit(.finalAnswer) { $0.iteration = iteration; $0.text = answer; $0.source = "reply" }
        return answer
    }

    private func prose(of text: String) -> String {
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

    // MARK: Sub-calls

    private func makeSubCallHandler(ledger: UsageLedger, limiter: ConcurrencyLimiter,
                                    recorder: EventRecorder) -> SubCallHandler {
        let ids = Counter()
        let subModel = self.subModel
        return { request in
            await withTaskGroup(of: (Int, String).self, returning: [String].self) { group in
                for (index, prompt) in request.prompts.enumerated() {
                    var text = prompt
                    if request.kind == .rlm, let context = request.contexts?[safe: index] {
                        // At the depth limit a child RLM is a plain sub-call over prompt and context.
                        text += "\n\n" + context.promptText
                    }
                    let model = request.model.map { subModel.withModelName($0) } ?? subModel
                    let finalText = text
                    group.addTask {
                        do {
                            let answer = try await limiter.run {
                                await Self.subCall(finalText, model: model, ids: ids, ledger: ledger, recorder: recorder)
                            }
                            return (index, answer)
                        } catch {
                            return (index, "Error: the sub-call was cancelled")
                        }
                    }
                }
                var results = Array(repeating: "", count: request.prompts.count)
                for await (index, answer) in group { results[index] = answer }
                return results
            }
        }
    }

    private static func subCall(_ prompt: String, model: any LanguageModel, ids: Counter, ledger: UsageLedger,
                                recorder: EventRecorder) async -> String {
        let id = await ids.next()
        let started = ContinuousClock.now
        await recorder.emit(.subCallStarted) {
            $0.subCallID = id
            $0.model = model.name
            $0.promptChars = prompt.count
        }
        do {
            let response = try await model.complete(ModelRequest(messages: [.user(prompt)]))
            await ledger.record(model: model.name, usage: response.usage, isSubCall: true)
            await recorder.emit(.subCallFinished) {
                $0.subCallID = id
                $0.model = model.name
                $0.usage = response.usage
                $0.seconds = (ContinuousClock.now - started).seconds
                $0.text = OutputTruncation.clip(response.text, limit: 4_000)
            }
            return response.text
        } catch {
            await ledger.recordFailure(model: model.name, isSubCall: true)
            let message = String(describing: error)
            await recorder.emit(.subCallFinished) {
                $0.subCallID = id
                $0.model = model.name
                $0.seconds = (ContinuousClock.now - started).seconds
                $0.error = message
            }
            return "Error: \(message)"
        }
    }

    // MARK: Totals

    private func finish(_ outcome: LoopOutcome, started: ContinuousClock.Instant, ledger: UsageLedger,
                        limiter: ConcurrencyLimiter, recorder: EventRecorder, log: TrajectoryLog?) async -> RLMResult {
        let usage = await ledger.usageByModel
        let total = await ledger.total
        let subCalls = await ledger.subCalls
        let peak = await limiter.peak
        let wall = (ContinuousClock.now - started).seconds
        await recorder.emit(.runFinished) {
            $0.status = outcome.status.rawValue
            $0.text = outcome.answer
            $0.source = outcome.source
            $0.iteration = outcome.iterations
            $0.usage = total
            $0.seconds = wall
            $0.error = outcome.stopReason
            $0.details = ["sub_calls": .number(Double(subCalls)), "peak_concurrency": .number(Double(peak))]
        }
        await log?.close()
        return RLMResult(answer: outcome.answer, status: outcome.status, stopReason: outcome.stopReason,
                         answerSource: outcome.source, usageByModel: usage, totalUsage: total,
                         iterations: outcome.iterations, subCalls: subCalls, peakConcurrency: peak,
                         wallSeconds: wall, context: outcome.context, logPath: log?.url.path,
                         hostPeakRSSBytes: hostPeakRSSBytes(), replPeakRSSBytes: outcome.replPeakRSSBytes,
                         trajectory: await recorder.events)
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
