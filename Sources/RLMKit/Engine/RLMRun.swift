import Foundation

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
            async let resolvedWindows = ModelWindows.resolve(for: configuration)
            let prepared = try ContextPreparer.prepare(context, scratch: scratch)
            let python = try await locatedPython
            let windows = await resolvedWindows
            var fitted = configuration.repl
            fitted.maxOutputChars = ModelWindows.outputChars(configured: fitted.maxOutputChars, rootWindow: windows.root)
            let repl = fitted
            await recorder.emit(.modelWindows, trajectory: "0") {
                $0.details = ["root_window_tokens": .number(Double(windows.root.tokens)),
                              "root_window_source": .string(windows.root.source),
                              "sub_window_tokens": .number(Double(windows.sub.tokens)),
                              "sub_window_source": .string(windows.sub.source),
                              "output_chars_per_block": .number(Double(repl.maxOutputChars))]
            }
            let (sandbox, warnings) = try await SandboxSelector.select(configuration.repl.sandbox, interpreter: python)
            await recorder.emit(.sandbox, trajectory: "0") {
                $0.status = sandbox.level.rawValue
                $0.text = sandbox.summary
                $0.details = ["warnings": .array(warnings.map { .string($0) })]
            }
            let limits = configuration.limits
            let tree = RunTree(configuration: configuration, ledger: ledger, modelCalls: modelCalls,
                               childSlots: (0...limits.maxDepth).map { _ in ConcurrencyLimiter(limit: limits.maxConcurrency) },
                               recorder: recorder, python: python, sandbox: sandbox, scratch: scratch,
                               windows: windows, repl: repl)
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
            // After the root model's first reply there is something to give back: the partial answer and the
            // spend so far travel with the error.
            if progress.snapshot.iterations >= 1 {
                var outcome = Self.partial(progress, reason: .failed)
                outcome.error = String(describing: error)
                let partial = await finish(outcome, started: started, ledger: ledger, recorder: recorder,
                                           modelCalls: modelCalls, log: log)
                throw RLMRunFailure(error: error, partial: partial)
            }
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
            "schema_version": .number(Double(TrajectoryLog.schemaVersion)),
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
        // Prices of the models the run may use, so a reader can tell the cost while the run goes on.
        var prices: [String: JSONValue] = [:]
        for name in [configuration.rootModel.name, sub.name] + configuration.allowedModels {
            guard let price = configuration.prices.price(for: name) else { continue }
            prices[name] = .object(["input_per_million": .number(price.inputPerMillion),
                                    "output_per_million": .number(price.outputPerMillion)])
        }
        if !prices.isEmpty { header["prices"] = .object(prices) }
        return header
    }

    /// One model's calls, tokens and cost, as `run_finished` logs them.
    static func usageJSON(_ usage: ModelUsage) -> JSONValue {
        var fields: [String: JSONValue] = ["calls": .number(Double(usage.calls)),
                                           "failed_calls": .number(Double(usage.failedCalls)),
                                           "input_tokens": .number(Double(usage.inputTokens)),
                                           "output_tokens": .number(Double(usage.outputTokens))]
        if let cost = usage.costUSD { fields["cost_usd"] = .number(cost) }
        return .object(fields)
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
            details["usage_by_model"] = .object(usage.mapValues(Self.usageJSON))
            if let failure = outcome.error { details["failure"] = .string(failure) }
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
