import Foundation
import Synchronization

/// One run: the top-level RLM and, through `rlm_query`, its children.
struct RLMRun: Sendable {
    let configuration: RLM
    let query: String
    let onEvent: (@Sendable (RLMEvent) -> Void)?
    /// The route chosen for this run; nil for a session's question, which runs in the session's REPL.
    var chosenRoute: RouteDecision? = nil

    func run(context: RLMContext) async throws -> RLMResult {
        let prepared = PreparedEnvironment()
        defer { prepared.remove() }
        return try await run(environment: { [configuration] in
            let environment = try await RunEnvironment.prepare(for: configuration, context: context)
            prepared.keep(environment)
            return environment
        }, answer: { root, environment in
            try await root.run(context: environment.prepared)
        })
    }

    /// Runs one question: `environment` readies (or hands over) what the run needs, `answer` runs the top-level
    /// RLM in it. Events, log, budget, deadline and the result are the same for a lone run and a session.
    func run(environment: @Sendable () async throws -> RunEnvironment,
             answer: @escaping @Sendable (RLMNode, RunEnvironment) async throws -> RLMNode.Outcome) async throws -> RLMResult {
        let modelCalls = configuration.modelCallLimiter ?? ConcurrencyLimiter(limit: configuration.limits.maxConcurrency)
        return try await recorded(modelCalls: modelCalls, prepare: { recorder in
            try RLMTool.validate(configuration.tools)
            let environment = try await environment()
            await environment.announce(to: recorder)
            return environment
        }, answer: { [configuration, query] environment, recorder, ledger, progress in
            let limits = configuration.limits
            let tree = RunTree(configuration: configuration, ledger: ledger, modelCalls: modelCalls,
                               childSlots: (0...limits.maxDepth).map { _ in ConcurrencyLimiter(limit: limits.maxConcurrency) },
                               recorder: recorder, python: environment.python, sandbox: environment.sandbox,
                               scratch: environment.scratch, windows: environment.windows, repl: environment.repl)
            let root = RLMNode(tree: tree, query: query, depth: 1, trajectoryID: "0", progress: progress, isTopLevel: true)
            return try await answer(root, environment)
        })
    }

    /// What every run shares, whatever its route: the log and its header, `run_started`, the ledger; `prepare`
    /// (not under the deadline), then `answer` under it; and `run_finished` however it ends. A budget that runs
    /// out or a cancellation gives the partial answer; an error after the root model's first reply gives it too,
    /// with the error (``RLMRunFailure``); an earlier error is logged and thrown.
    func recorded<Prepared: Sendable>(
        modelCalls: ConcurrencyLimiter,
        prepare: @Sendable (EventRecorder) async throws -> Prepared,
        answer: @escaping @Sendable (Prepared, EventRecorder, RunLedger, RunProgress) async throws -> RLMNode.Outcome
    ) async throws -> RLMResult {
        let started = ContinuousClock.now
        let log = try configuration.logURL.map { try TrajectoryLog(url: $0) }
        let recorder = EventRecorder(started: started, log: log, observer: onEvent)
        let ledger = RunLedger(budget: configuration.budget, prices: configuration.prices, started: started)
        await log?.write(header())
        await emitStarted(recorder)

        let progress = RunProgress()
        func finishing(_ outcome: RLMNode.Outcome) async -> RLMResult {
            await finish(outcome, started: started, ledger: ledger, recorder: recorder, modelCalls: modelCalls, log: log)
        }
        do {
            try checkPrices()
            let prepared = try await prepare(recorder)
            let outcome = try await withDeadline(ledger.deadline) {
                try await answer(prepared, recorder, ledger, progress)
            } onTimeout: {
                Self.partial(progress, reason: .timeout)
            }
            return await finishing(outcome)
        } catch is CancellationError {
            return await finishing(Self.partial(progress, reason: .cancelled))
        } catch let exhausted as BudgetExhausted {
            return await finishing(Self.partial(progress, reason: exhausted.reason))
        } catch {
            // After the root model's first reply there is something to give back: the partial answer and the
            // spend so far travel with the error.
            if progress.snapshot.iterations >= 1 {
                var outcome = Self.partial(progress, reason: .failed)
                outcome.error = String(describing: error)
                throw RLMRunFailure(error: error, partial: await finishing(outcome))
            }
            await recorder.emit(.runFinished, trajectory: "0") { [route] in
                $0.route = route.route.rawValue
                $0.status = "failed"
                $0.error = String(describing: error)
            }
            await log?.close()
            throw error
        }
    }

    /// Runs `body`, or gives `onTimeout()` once `deadline` passes (the body is cancelled, REPLs included).
    func withDeadline<T: Sendable>(_ deadline: ContinuousClock.Instant?, _ body: @escaping @Sendable () async throws -> T,
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

    func checkPrices() throws {
        guard configuration.budget.maxCostUSD != nil else { return }
        let models = [configuration.rootModel, configuration.subModel ?? configuration.rootModel]
        for model in models where configuration.prices.price(for: model.name) == nil {
            throw UnpricedModel(model: model.name)
        }
    }

    func header() -> [String: JSONValue] {
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
            "route": .string(route.route.rawValue),
            "started_at": .string(ISO8601DateFormatter().string(from: Date())),
        ]
        if let value = budget.maxSubCalls { header["max_subcalls"] = .number(Double(value)) }
        if let value = budget.maxTokens { header["max_tokens"] = .number(Double(value)) }
        if let value = budget.maxCostUSD { header["max_cost_usd"] = .number(value) }
        if let value = budget.timeout { header["timeout_seconds"] = .number(value.seconds) }
        if let value = budget.maxConsecutiveErrors { header["max_errors"] = .number(Double(value)) }
        if let schema = configuration.answerSchema {
            header["answer_schema"] = schema.source
            header["max_schema_attempts"] = .number(Double(configuration.maxSchemaAttempts))
        }
        // Prices of the models the run may use, so a reader can tell the cost while the run goes on.
        var prices: [String: JSONValue] = [:]
        for name in [configuration.rootModel.name, sub.name] + configuration.allowedModels {
            guard let price = configuration.prices.price(for: name) else { continue }
            var fields: [String: JSONValue] = ["input_per_million": .number(price.inputPerMillion),
                                               "output_per_million": .number(price.outputPerMillion),
                                               "cache_write_1h_per_million": .number(price.oneHourCacheWritePerMillion)]
            if let cached = price.cachedInputPerMillion { fields["cached_input_per_million"] = .number(cached) }
            if let write = price.cacheWritePerMillion { fields["cache_write_per_million"] = .number(write) }
            prices[name] = .object(fields)
        }
        if !prices.isEmpty { header["prices"] = .object(prices) }
        return header
    }

    /// One model's calls, tokens and cost, as `run_finished` logs them.
    static func usageJSON(_ usage: ModelUsage) -> JSONValue {
        var fields: [String: JSONValue] = ["calls": .number(Double(usage.calls)),
                                           "failed_calls": .number(Double(usage.failedCalls)),
                                           "input_tokens": .number(Double(usage.inputTokens)),
                                           "output_tokens": .number(Double(usage.outputTokens)),
                                           "cache_read_tokens": .number(Double(usage.cacheReadTokens)),
                                           "cache_write_tokens": .number(Double(usage.cacheWriteTokens))]
        if usage.cacheWriteOneHourTokens > 0 { fields["cache_write_1h_tokens"] = .number(Double(usage.cacheWriteOneHourTokens)) }
        if let cost = usage.costUSD { fields["cost_usd"] = .number(cost) }
        return .object(fields)
    }

    func finish(_ outcome: RLMNode.Outcome, started: ContinuousClock.Instant, ledger: RunLedger,
                        recorder: EventRecorder, modelCalls: ConcurrencyLimiter, log: TrajectoryLog?) async -> RLMResult {
        let usage = await ledger.usageByModel
        let total = await ledger.total
        let cost = await ledger.costUSD
        let subCalls = await ledger.subCalls
        let peak = await modelCalls.peak
        let wall = (ContinuousClock.now - started).seconds
        let cacheTally = configuration.subcallCache == nil ? nil : SubcallCacheTally(events: await recorder.events, prices: configuration.prices)
        await recorder.emit(.runFinished, trajectory: "0") {
            // An error that ended the run after its first turn is a failure, as `--json` reports it, with the
            // partial answer in `text` and the error in `details.failure`.
            $0.status = outcome.stopReason == .failed ? "failed" : outcome.status.rawValue
            $0.text = outcome.answer
            $0.source = outcome.source
            $0.iteration = outcome.iterations
            $0.usage = total
            $0.seconds = wall
            $0.error = outcome.stopReason?.rawValue
            $0.route = route.route.rawValue
            var details: [String: JSONValue] = ["sub_calls": .number(Double(subCalls)), "peak_concurrency": .number(Double(peak))]
            if let cost { details["cost_usd"] = .number(cost) }
            details["usage_by_model"] = .object(usage.mapValues(Self.usageJSON))
            if let failure = outcome.error { details["failure"] = .string(failure) }
            if let violations = outcome.schemaViolations {
                details["schema_violations"] = .array(violations.map { .string($0.description) })
            }
            if let cacheTally { details[SubcallCacheTally.detailsKey] = cacheTally.json }
            $0.details = details
        }
        await log?.close()
        return RLMResult(answer: outcome.answer, status: outcome.status, stopReason: outcome.stopReason?.rawValue,
                         answerSource: outcome.source, usageByModel: usage, totalUsage: total, costUSD: cost,
                         iterations: outcome.iterations, subCalls: subCalls, peakConcurrency: peak,
                         wallSeconds: wall, context: outcome.context, logPath: log?.url.path,
                         hostPeakRSSBytes: hostPeakRSSBytes(), replPeakRSSBytes: outcome.replPeakRSSBytes,
                         trajectory: await recorder.events, answerJSON: outcome.answerJSON,
                         schemaViolations: outcome.schemaViolations, route: route.route, routeReason: route.reason)
    }
}

/// The environment a lone run prepared, removed when the run ends.
private final class PreparedEnvironment: Sendable {
    private let value = Mutex<RunEnvironment?>(nil)
    func keep(_ environment: RunEnvironment) { value.withLock { $0 = environment } }
    func remove() { value.withLock { $0 }?.remove() }
}
