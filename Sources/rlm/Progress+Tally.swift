import Foundation
import RLMKit

/// What the status line counts, from the events as they come.
struct ProgressTally: Sendable {
    var turn = 0
    var subCallsDone = 0
    var subCallsInFlight = 0
    var inputTokens = 0
    var outputTokens = 0
    /// Input tokens the providers served from their prompt caches (part of `inputTokens`, billed lower).
    var cachedTokens = 0
    var costUSD = 0.0
    /// Models used that have no price: the cost is then not shown, rather than shown too low.
    var unpriced: Set<String> = []
    /// A streamed reply is being echoed: the status line waits for its end.
    var midReply = false

    mutating func count(_ event: RLMEvent, prices: PriceTable) {
        switch event.event {
        case .iterationStarted where event.trajectory == "0": turn = event.iteration ?? turn
        case .subCallStarted: subCallsInFlight += 1
        case .subCallFinished:
            subCallsDone += 1
            // A refused call (an error and no time) never started.
            if event.seconds != nil || event.error == nil { subCallsInFlight = max(0, subCallsInFlight - 1) }
            add(event.usage, model: event.model, prices: prices)
        case .modelResponse: add(event.usage, model: event.model, prices: prices)
        default: break
        }
    }

    private mutating func add(_ usage: TokenUsage?, model: String?, prices: PriceTable) {
        guard let usage else { return }
        inputTokens += usage.inputTokens
        outputTokens += usage.outputTokens
        cachedTokens += usage.cacheReadTokens
        guard let model else { return }
        if let price = prices.price(for: model) {
            costUSD += price.cost(of: usage)
        } else {
            unpriced.insert(model)
        }
    }
}

extension Progress {
    /// " (child RLM 0.2)" for events of a child, nothing for the top level.
    static func origin(of event: RLMEvent) -> String {
        guard let trajectory = event.trajectory, trajectory != "0" else { return "" }
        return " (child RLM \(trajectory))"
    }

    /// A code block and what it printed, indented under its turn.
    static func codeReport(_ event: RLMEvent) -> String {
        var text = "       code:\n" + indented(event.code ?? "")
        if let stdout = event.stdout, !stdout.isEmpty { text += "\n       output:\n" + indented(stdout) }
        if let stderr = event.stderr, !stderr.isEmpty { text += "\n       stderr:\n" + indented(stderr) }
        if let error = event.error { text += "\n       error: \(error)" }
        return text
    }

    /// "       sub-call #12 sub-model: 0.31 s, 150 tokens" or the error it ended with.
    static func subCallLine(_ event: RLMEvent) -> String {
        let id = event.subCallID.map { "#\($0)" } ?? ""
        let who = event.childTrajectory.map { "child RLM \($0)" } ?? (event.model ?? "")
        if let error = event.error { return "       sub-call \(id) \(who): \(error)" }
        let tokens = event.usage.map { ", \($0.inputTokens + $0.outputTokens) tokens" } ?? ""
        return "       sub-call \(id) \(who)\(Self.origin(of: event)): \(String(format: "%.2f", event.seconds ?? 0)) s\(tokens)"
    }

    static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "         " + $0 }.joined(separator: "\n")
    }

    /// 45200 → "45.2k".
    static func tokens(_ count: Int) -> String {
        count >= 10_000 ? String(format: "%.1fk", Double(count) / 1000) : "\(count)"
    }
}
