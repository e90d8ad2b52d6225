import Foundation
import Synchronization

/// Collects the run's events, hands them to the observer and writes them to the log, in order.
actor EventRecorder {
    private let started: ContinuousClock.Instant
    private let log: TrajectoryLog?
    private let observer: (@Sendable (RLMEvent) -> Void)?
    private(set) var events: [RLMEvent] = []
    /// Tokens of the model calls each RLM of the tree made itself (its turns and `llm_query` sub-calls).
    private var usageByTrajectory: [String: TokenUsage] = [:]

    init(started: ContinuousClock.Instant, log: TrajectoryLog?, observer: (@Sendable (RLMEvent) -> Void)?) {
        self.started = started
        self.log = log
        self.observer = observer
    }

    var elapsed: Double { (ContinuousClock.now - started).seconds }

    /// A piece of a streamed reply: handed to the observer at once, on the caller's thread, so pieces arrive in
    /// order. Not logged: the response event that follows holds the whole text.
    nonisolated func emitDelta(_ text: String, trajectory: String, iteration: Int) {
        guard let observer else { return }
        var event = RLMEvent(event: .modelDelta, time: (ContinuousClock.now - started).seconds)
        event.trajectory = trajectory
        event.iteration = iteration
        event.text = text
        observer(event)
    }

    func emit(_ kind: RLMEvent.Kind, trajectory: String, _ fill: @Sendable (inout RLMEvent) -> Void = { _ in }) async {
        var event = RLMEvent(event: kind, time: elapsed)
        event.trajectory = trajectory
        fill(&event)
        // A child's own sub-call event carries the child's whole usage, which its own events count already.
        if let usage = event.usage, kind == .modelResponse || (kind == .subCallFinished && event.childTrajectory == nil) {
            usageByTrajectory[trajectory] = Self.adding(usage, to: usageByTrajectory[trajectory])
        }
        observer?(event)
        // Streaming deltas go to the observer only: the response event that follows holds the whole text.
        guard kind != .modelDelta else { return }
        events.append(event)
        await log?.write(event)
    }
}

extension EventRecorder {
    /// The tokens of the RLM `trajectory` and everything under it: its turns, its sub-calls and its children's.
    func usage(ofTree trajectory: String) -> TokenUsage {
        usageByTrajectory.reduce(into: TokenUsage()) { total, entry in
            guard entry.key == trajectory || entry.key.hasPrefix(trajectory + ".") else { return }
            total = Self.adding(entry.value, to: total)
        }
    }

    /// `usage` added to `total`, estimated when either part is.
    static func adding(_ usage: TokenUsage, to total: TokenUsage?) -> TokenUsage {
        guard let total else { return usage }
        var sum = total + usage
        if total.estimated == true || usage.estimated == true { sum.estimated = true }
        return sum
    }
}

/// Hands out ids: 1, 2, 3… (An atomic rather than an actor: every sub-call takes one.)
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int {
        value.add(1, ordering: .relaxed).newValue
    }
}
