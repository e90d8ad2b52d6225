import RLMKit
import Synchronization

/// Counts what a run has done so far (turns of the top-level RLM, sub-calls and tokens of the whole tree) and
/// says when a progress notification is worth sending.
final class AskProgress: Sendable {
    /// What one progress notification reports.
    struct Snapshot: Sendable, Equatable {
        /// Grows by one with every notification: MCP wants `progress` to increase.
        var step: Int
        var turn: Int
        var maxTurns: Int
        var subCalls: Int
        var tokens: Int
        var phase: String

        var message: String {
            let subCallWord = subCalls == 1 ? "sub-call" : "sub-calls"
            let turnText = turn == 0 ? "starting" : "turn \(min(turn, maxTurns))/\(maxTurns)"
            return "\(turnText), \(subCalls) \(subCallWord), \(tokens) tokens: \(phase)"
        }
    }

    private let state: Mutex<Snapshot>
    private let collectedNotes = Mutex<[String]>([])

    /// What the run said about its input and its sandbox (binary files left out, a weaker isolation…).
    var notes: [String] { collectedNotes.withLock { $0 } }

    init(maxTurns: Int) {
        state = Mutex(Snapshot(step: 0, turn: 0, maxTurns: maxTurns, subCalls: 0, tokens: 0, phase: "starting"))
    }

    /// Takes in one event; returns the snapshot to report, or nil when the event changes nothing worth telling.
    func record(_ event: RLMEvent) -> Snapshot? {
        let isTopLevel = (event.trajectory ?? "0") == "0"
        if isTopLevel, event.event == .contextLoaded || event.event == .sandbox,
           case .array(let items)? = event.details?[event.event == .sandbox ? "warnings" : "notes"] {
            let texts = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
            collectedNotes.withLock { $0 += texts }
        }
        return state.withLock { snapshot in
            if let usage = event.usage, event.event == .modelResponse || event.event == .subCallFinished {
                snapshot.tokens += usage.inputTokens + usage.outputTokens
            }
            switch event.event {
            case .contextLoaded where isTopLevel:
                snapshot.phase = "context loaded"
            case .iterationStarted where isTopLevel:
                snapshot.turn = event.iteration ?? snapshot.turn + 1
                snapshot.phase = "asking the root model"
            case .codeExecuted where isTopLevel:
                snapshot.phase = "code ran"
            case .subCallFinished:
                snapshot.subCalls += 1
                snapshot.phase = "sub-call finished"
            case .finalAnswer where isTopLevel:
                snapshot.phase = "answer submitted"
            default:
                return nil
            }
            snapshot.step += 1
            return snapshot
        }
    }
}
