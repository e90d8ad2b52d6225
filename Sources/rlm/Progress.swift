import Foundation
import RLMKit
import Synchronization

/// Progress lines on stderr while a run goes on (only when stderr is a terminal).
final class Progress: Sendable {
    let enabled: Bool
    /// The root model's replies are streamed (and echoed here when progress is shown).
    let streaming: Bool
    private let subCalls = Mutex(0)

    init(enabled: Bool, streaming: Bool = false) {
        self.enabled = enabled
        self.streaming = streaming
    }

    func notice(_ text: String, force: Bool = false) {
        guard enabled || force else { return }
        write("rlm: \(text)")
    }

    func show(_ event: RLMEvent, maxIterations: Int) {
        if event.event == .modelWindows, let details = event.details {
            // Said even without a terminal: the window decides how much the model is shown and sent.
            write("rlm: " + Self.windowsLine(details))
        }
        if event.event == .sandbox, case .array(let warnings)? = event.details?["warnings"] {
            // Isolation warnings are shown even without a terminal: a weaker sandbox is never silent.
            for case .string(let warning) in warnings { write("rlm: \(warning)") }
        }
        if event.event == .contextLoaded, case .array(let notes)? = event.details?["notes"] {
            // Said even without a terminal: nothing about the input is changed silently.
            for case .string(let note) in notes { write("rlm: note: \(note)") }
        }
        guard enabled else { return }
        switch event.event {
        case .contextLoaded:
            let chars = event.details?["chars"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 0
            write("rlm: context loaded (\(chars) characters) in \(String(format: "%.2f", event.seconds ?? 0)) s")
        case .iterationStarted:
            let turn = event.iteration ?? 0
            write("rlm: turn \(min(turn, maxIterations))/\(maxIterations)\(turn > maxIterations ? " (last chance)" : "")")
        case .codeExecuted:
            let status = event.status.map { " [\($0)]" } ?? ""
            write("       code ran in \(String(format: "%.2f", event.seconds ?? 0)) s\(status)")
        case .subCallFinished:
            let count = subCalls.withLock { value -> Int in
                value += 1
                return value
            }
            if count == 1 || count % 25 == 0 { write("       \(count) sub-call(s) done") }
        case .interpreterRestarted:
            write("       the interpreter died and was restarted: \(event.error ?? "")")
        case .finalAnswer:
            write("rlm: answer submitted (\(event.source ?? "FINAL"))")
        case .modelDelta:
            if let text = event.text { FileHandle.standardError.write(Data(text.utf8)) }
        case .modelResponse:
            if streaming { write("") }
        case .historyCompacted:
            write("       older turns were summarised to stay inside the model's window")
        default:
            break
        }
    }

    func finish() {}

    /// "root model window: 4,096 tokens (llama.cpp GET /props n_ctx); sub model: the same" and the like.
    static func windowsLine(_ details: [String: JSONValue]) -> String {
        func number(_ key: String) -> Int { if case .number(let value)? = details[key] { Int(value) } else { 0 } }
        func text(_ key: String) -> String { if case .string(let value)? = details[key] { value } else { "" } }
        let root = "root model window: \(number("root_window_tokens").formatted()) tokens (\(text("root_window_source")))"
        let sameSub = number("sub_window_tokens") == number("root_window_tokens") && text("sub_window_source") == text("root_window_source")
        let sub = sameSub ? "sub model: the same" : "sub model window: \(number("sub_window_tokens").formatted()) tokens (\(text("sub_window_source")))"
        return "\(root); \(sub). Set --model-window / --sub-window to override."
    }

    private func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
