import Foundation

/// The run's accounting and its budget: one actor for the whole tree, so concurrent sub-calls add up exactly
/// and a child sees exactly what its parent left.
public actor RunLedger {
    let budget: RLMBudget
    let prices: PriceTable
    let deadline: ContinuousClock.Instant?
    private var perModel: [String: ModelUsage] = [:]
    private var subCallCount = 0
    private var totalCost = 0.0
    private var unpricedModels: Set<String> = []
    private var inFlight = 0
    private var inFlightByModel: [String: InFlightSpend] = [:]
    private var largestOutput: [String: Int] = [:]
    private var inputScale: [String: Double] = [:]
    /// Sub-calls waiting for a call in flight to settle before they try again to fit in the budget.
    private let settlementWaiters = WaiterQueue<Void, Void>()
    /// A failure that must stop the whole tree (bad key, unknown model), raised from any sub-call.
    private(set) var fatalError: ModelError?

    init(budget: RLMBudget, prices: PriceTable, started: ContinuousClock.Instant) {
        self.budget = budget
        self.prices = prices
        self.deadline = budget.timeout.map { started + $0 }
    }

    /// Admits one sub-call, counting it at once so concurrent callers cannot overshoot `maxSubCalls`.
    ///
    /// With a token or cost limit, the call also reserves what it may spend (its prompt, estimated, plus its
    /// output: the request's cap, else the most this model has written in one reply so far). A call that does
    /// not fit beside the reservations of the calls in flight waits for them to settle; one that does not fit
    /// with nothing in flight is refused. So a batch stops where the budget does, not after it.
    func admitSubCall(model: String, promptChars: Int, maxOutputTokens: Int?) async throws -> SpendReservation {
        while true {
            try checkRoomForSubCall()
            let reservation = SpendReservation(model: model, estimatedInput: promptChars / 3 + 16, outputCap: maxOutputTokens)
            if let exceeded = exceeds(reservation) {
                guard inFlight > 0 else { throw exceeded }
                try await settlementWaiters.wait()
                continue
            }
            subCallCount += 1
            inFlight += 1
            inFlightByModel[model, default: InFlightSpend()].add(reservation)
            return reservation
        }
    }

    /// Admits a child RLM as one sub-call. It reserves nothing: its own model calls are admitted one by one, and
    /// a call inside it must never wait for the child itself to settle.
    func admitChild() throws(BudgetExhausted) {
        try checkRoomForSubCall()
        subCallCount += 1
    }

    /// Throws when tokens, cost or time are used up, or every allowed sub-call has been made.
    private func checkRoomForSubCall() throws(BudgetExhausted) {
        try checkSpend()
        if let limit = budget.maxSubCalls, subCallCount >= limit {
            throw BudgetExhausted(reason: .maxSubCalls, detail: "max-subcalls: all \(limit) sub-calls are used")
        }
    }

    /// Records what an admitted call really spent (nil when it failed) and frees its reservation.
    func settle(_ reservation: SpendReservation, usage: TokenUsage?) {
        inFlight -= 1
        inFlightByModel[reservation.model]?.remove(reservation)
        if let usage {
            record(model: reservation.model, usage: usage)
            largestOutput[reservation.model] = max(largestOutput[reservation.model] ?? 0, usage.outputTokens)
            // Servers count prompts their own way (chat templates, tokenizers): learn how far off the estimate was.
            let ratio = Double(usage.inputTokens) / Double(max(1, reservation.estimatedInput))
            inputScale[reservation.model] = max(inputScale[reservation.model] ?? 1, ratio)
        }
        settlementWaiters.resumeAll()
    }

    /// Output tokens reserved for a model before any of its replies has been seen.
    static let assumedOutputTokens = 256

    /// What calls of `model` with these estimates may spend, judged by everything learnt so far: the prompt
    /// estimate scaled by the largest ratio seen, the reply by its cap or the longest reply seen.
    private func mayCost(model: String, estimatedInput: Int, cappedOutput: Int, uncapped: Int) -> (tokens: Int, cost: Double) {
        guard budget.maxTokens != nil || budget.maxCostUSD != nil else { return (0, 0) }
        let input = Int((Double(estimatedInput) * (inputScale[model] ?? 1)).rounded(.up))
        let output = cappedOutput + uncapped * (largestOutput[model] ?? Self.assumedOutputTokens)
        let cost = prices.price(for: model)?.cost(of: TokenUsage(inputTokens: input, outputTokens: output)) ?? 0
        return (input + output, cost)
    }

    /// What the calls in flight may still spend, recomputed with what was learnt since they were admitted.
    private var reserved: (tokens: Int, cost: Double) {
        inFlightByModel.reduce(into: (tokens: 0, cost: 0.0)) { total, entry in
            let spend = mayCost(model: entry.key, estimatedInput: entry.value.estimatedInput,
                                cappedOutput: entry.value.cappedOutput, uncapped: entry.value.uncapped)
            total.tokens += spend.tokens
            total.cost += spend.cost
        }
    }

    private func exceeds(_ reservation: SpendReservation) -> BudgetExhausted? {
        let mine = mayCost(model: reservation.model, estimatedInput: reservation.estimatedInput,
                           cappedOutput: reservation.outputCap ?? 0, uncapped: reservation.outputCap == nil ? 1 : 0)
        let held = reserved
        if let limit = budget.maxTokens, totalTokens + held.tokens + mine.tokens > limit {
            return BudgetExhausted(reason: .maxTokens, detail: "max-tokens: \(totalTokens) of \(limit) tokens used, and this call may need \(mine.tokens) more")
        }
        if let limit = budget.maxCostUSD, totalCost + held.cost + mine.cost > limit {
            return BudgetExhausted(reason: .maxCost, detail: String(format: "max-cost: $%.4f of $%.2f spent, and this call may cost $%.4f more", totalCost, limit, mine.cost))
        }
        return nil
    }

    /// Throws when tokens, cost or time are used up.
    func checkSpend() throws(BudgetExhausted) {
        if let deadline, ContinuousClock.now >= deadline {
            throw BudgetExhausted(reason: .timeout, detail: "timeout: the run's \(Int(budget.timeout!.seconds)) s are up")
        }
        if let limit = budget.maxTokens, totalTokens >= limit {
            throw BudgetExhausted(reason: .maxTokens, detail: "max-tokens: \(totalTokens) of \(limit) tokens used")
        }
        if let limit = budget.maxCostUSD, totalCost >= limit {
            throw BudgetExhausted(reason: .maxCost, detail: String(format: "max-cost: $%.4f of $%.2f spent", totalCost, limit))
        }
    }

    func record(model: String, usage: TokenUsage) {
        var entry = perModel[model, default: ModelUsage()]
        entry.add(usage)
        if let price = prices.price(for: model) {
            let cost = price.cost(of: usage)
            totalCost += cost
            entry.costUSD = (entry.costUSD ?? 0) + cost
        } else {
            unpricedModels.insert(model)
        }
        perModel[model] = entry
    }

    func recordFailure(model: String) {
        perModel[model, default: ModelUsage()].failedCalls += 1
    }

    func abort(with error: ModelError) {
        if fatalError == nil { fatalError = error }
    }

    public var usageByModel: [String: ModelUsage] { perModel }
    public var subCalls: Int { subCallCount }
    public var totalTokens: Int { perModel.values.reduce(0) { $0 + $1.inputTokens + $1.outputTokens } }
    public var total: TokenUsage {
        perModel.values.reduce(TokenUsage()) { $0 + $1.tokens }
    }
    /// Total cost in USD; nil when some model that was used has no price.
    public var costUSD: Double? { unpricedModels.isEmpty ? totalCost : nil }

    /// What is left of each limit that is set, for the model's per-turn message; nil when no limit is set.
    func remainingSummary() -> String? {
        var parts: [String] = []
        if let limit = budget.maxSubCalls { parts.append("\(max(0, limit - subCallCount)) of \(limit) sub-calls") }
        if let limit = budget.maxTokens { parts.append("\(max(0, limit - totalTokens)) of \(limit) tokens") }
        if let limit = budget.maxCostUSD { parts.append(String(format: "$%.4f of $%.2f", max(0, limit - totalCost), limit)) }
        if let deadline {
            let left = max(0, (deadline - ContinuousClock.now).seconds)
            parts.append("\(Int(left)) s of \(Int(budget.timeout!.seconds)) s")
        }
        return parts.isEmpty ? nil : "Budget left: " + parts.joined(separator: ", ") + "."
    }
}
