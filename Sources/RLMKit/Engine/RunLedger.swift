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
    /// What root turns will likely read from the provider's prompt cache, learnt turn by turn.
    private var cacheForecast = PromptCacheForecast()
    /// Sub-calls waiting for a call in flight to settle before they try again to fit in the budget.
    private let settlementWaiters = WaiterQueue<Void, Void>()
    /// A failure that must stop the whole tree (bad key, unknown model), raised from any sub-call.
    private(set) var fatalError: ModelError?

    init(budget: RLMBudget, prices: PriceTable, started: ContinuousClock.Instant) {
        self.budget = budget
        self.prices = prices
        self.deadline = budget.timeout.map { started + $0 }
    }

    /// Admits one sub-call, counting it at once so concurrent callers cannot overshoot `maxSubCalls` (see
    /// ``admit(model:promptChars:ceiling:share:isSubCall:)``).
    func admitSubCall(model: String, promptChars: Int, maxOutputTokens: Int?, share: Int = 16) async throws -> SpendReservation {
        try await admit(model: model, promptChars: promptChars, ceiling: maxOutputTokens, share: share, isSubCall: true)
    }

    /// Admits one model call: a root turn, or a sub-call (`isSubCall`, counted against `maxSubCalls` at once).
    ///
    /// With a token or cost limit, the call reserves what it may spend: its prompt (estimated) and its reply, whose
    /// cap (`outputCap`, which the request must carry) is what the budget leaves after the prompt and the calls in
    /// flight, so no reply can pass the limit. A call that may run beside others (`share` > 1) takes at most
    /// 1/`share` of that, or the longest reply its model has given, whichever is more; `ceiling` bounds it further
    /// (the model's window, its published output limit). A call that does not fit beside the calls in flight waits
    /// for them to settle; one that does not fit with nothing in flight is refused. So a batch stops where the
    /// budget does, not after it. With no token or cost limit the call carries no cap.
    /// A root turn whose prefix the provider may cache (`cachedPrefix`) is priced at the cache prices it will likely
    /// be billed at (see ``PromptCacheForecast``).
    func admit(model: String, promptChars: Int, ceiling: Int?, share: Int, isSubCall: Bool,
               cachedPrefix: Bool = false) async throws -> SpendReservation {
        while true {
            if isSubCall { try checkRoomForSubCall() } else { try checkSpend() }
            var reservation = SpendReservation(model: model, estimatedInput: promptChars / 3 + 16)
            if budget.maxTokens != nil || budget.maxCostUSD != nil {
                let room = outputRoom(for: reservation, cachedPromptChars: cachedPrefix ? promptChars : nil)
                if room.tokens < Self.minimumOutputTokens {
                    guard inFlight > 0 else { throw room.exhausted }
                    try await settlementWaiters.wait()
                    continue
                }
                let expected = largestOutput[model] ?? Self.assumedOutputTokens
                let shared = share > 1 ? max(expected, room.tokens / share) : room.tokens
                reservation.outputCap = max(Self.minimumOutputTokens, min(room.tokens, shared, ceiling ?? .max))
            }
            if isSubCall { subCallCount += 1 }
            inFlight += 1
            inFlightByModel[model, default: InFlightSpend()].add(reservation)
            return reservation
        }
    }

    /// The fewest output tokens worth a request: a call with less room than this is not sent.
    static let minimumOutputTokens = 16

    /// How many output tokens the budget leaves a call with this prompt, beside the calls in flight, and the limit
    /// to name when that is too few.
    private func outputRoom(for reservation: SpendReservation, cachedPromptChars: Int?) -> (tokens: Int, exhausted: BudgetExhausted) {
        let model = reservation.model
        let input = Int((Double(reservation.estimatedInput) * (inputScale[model] ?? 1)).rounded(.up))
        let held = reserved
        var room = Int.max
        var exhausted = BudgetExhausted(reason: .maxTokens, detail: "")
        if let limit = budget.maxTokens {
            room = limit - totalTokens - held.tokens - input
            exhausted = BudgetExhausted(reason: .maxTokens, detail: "max-tokens: \(totalTokens) of \(limit) tokens used (\(held.tokens) more held by calls in flight), and this call's prompt needs about \(input) more")
        }
        if let limit = budget.maxCostUSD, let price = prices.price(for: model) {
            let inputCost = price.cost(of: cachedPromptChars.map {
                cacheForecast.expectedUsage(rootTurnOf: model, promptChars: $0, inputTokens: input, price: price)
            } ?? TokenUsage(inputTokens: input))
            let perOutputToken = price.cost(of: TokenUsage(outputTokens: 1_000_000)) / 1_000_000
            let left = limit - totalCost - held.cost - inputCost
            let byCost = perOutputToken > 0 ? Int(min(Double(Int.max / 2), (left / perOutputToken).rounded(.down)))
                : (left >= 0 ? Int.max : -1)
            if byCost < room {
                room = byCost
                exhausted = BudgetExhausted(reason: .maxCost, detail: String(format: "max-cost: $%.4f of $%.4f spent ($%.4f more held by calls in flight), and this call's prompt may cost $%.4f more", totalCost, limit, held.cost, inputCost))
            }
        }
        return (room, exhausted)
    }

    /// Sends one admitted root-model call (see ``admit(model:promptChars:ceiling:share:isSubCall:)``): `messages`
    /// with the output cap the budget leaves, settled with what it spent. Root turns, compaction summaries and
    /// direct answers all go through here, so no call escapes the budget. A failure is counted and rethrown.
    /// `promptCacheKey` marks a turn of a growing conversation, whose prefix the provider may serve from its cache.
    func sendRootCall(_ messages: [ChatMessage], model: any LanguageModel, windowTokens: Int, share: Int,
                      promptCacheKey: String? = nil,
                      send: @Sendable (ModelRequest) async throws -> ModelResponse) async throws -> ModelResponse {
        let promptChars = messages.reduce(0) { $0 + $1.content.count }
        let ceiling = OutputCeiling.tokens(model: model.name, windowTokens: windowTokens, promptChars: promptChars)
        let reservation = try await admit(model: model.name, promptChars: promptChars, ceiling: ceiling, share: share,
                                          isSubCall: false, cachedPrefix: promptCacheKey != nil)
        do {
            let request = ModelRequest(messages: messages, promptCacheKey: promptCacheKey)
            let response = try await send(request.cappedAt(reservation.outputCap))
            if promptCacheKey != nil {
                cacheForecast.observe(rootTurnOf: model.name, promptChars: promptChars, usage: response.usage)
            }
            settle(reservation, usage: response.usage)
            return response
        } catch {
            settle(reservation, usage: nil)
            recordFailure(model: model.name)
            throw error
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
    /// Every sub-call `maxSubCalls` allows is made: the run's RLMs get one last turn to submit.
    var subCallsSpent: Bool { budget.maxSubCalls.map { subCallCount >= $0 } ?? false }
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
