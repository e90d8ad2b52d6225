import Foundation
import RLMKit
import Synchronization

/// What `rlm ask` tells on stderr while a run goes on.
///
/// On a terminal: one line per turn and a status line kept at the bottom (sub-calls done and in flight, tokens,
/// cost, elapsed time). `--verbose` adds each code block and its output, and each sub-call, as they happen, on a
/// terminal or not; `--quiet` leaves only what must never be silent (isolation warnings, notes about the input).
/// Everything is written through ``Terminal``, so what a reply, code or its output holds is shown, never obeyed.
final class Progress: Sendable {
    /// Lines about turns, code and answers are written.
    let enabled: Bool
    /// Code, outputs and sub-calls are written as well.
    let verbose: Bool
    /// The status line is drawn (stderr is a terminal).
    let statusLine: Bool
    /// The root model's replies are streamed (and echoed here when progress is shown).
    let streaming: Bool
    let prices: PriceTable
    private let started = ContinuousClock.now
    private let state = Mutex(ProgressTally())
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    init(enabled: Bool, verbose: Bool = false, statusLine: Bool = false, streaming: Bool = false, prices: PriceTable = .builtIn) {
        self.enabled = enabled || verbose
        self.verbose = verbose
        self.statusLine = statusLine
        self.streaming = streaming
        self.prices = prices
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
        state.withLock { $0.count(event, prices: prices) }
        guard enabled else { return }
        switch event.event {
        case .contextLoaded:
            let chars = event.details?["chars"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 0
            write("rlm: context loaded (\(chars) characters) in \(String(format: "%.2f", event.seconds ?? 0)) s\(Self.origin(of: event))")
        case .iterationStarted:
            let turn = event.iteration ?? 0
            write("rlm: turn \(min(turn, maxIterations))/\(maxIterations)\(turn > maxIterations ? " (last chance)" : "")\(Self.origin(of: event))")
        case .codeExecuted:
            let status = event.status.map { " [\($0)]" } ?? ""
            write("       code ran in \(String(format: "%.2f", event.seconds ?? 0)) s\(status)")
            if verbose { write(Self.codeReport(event)) }
        case .subCallFinished:
            if verbose { write(Self.subCallLine(event)) }
        case .interpreterRestarted:
            write("       the interpreter died and was restarted: \(event.error ?? "")")
        case .finalAnswer:
            write("rlm: answer submitted (\(event.source ?? "FINAL"))\(Self.origin(of: event))")
        case .modelDelta:
            let starts = state.withLock { tally in
                defer { tally.midReply = true }
                return !tally.midReply
            }
            // Only before the reply's first piece: clearing the line later would wipe what was echoed of it.
            if starts { clearStatus() }
            if let text = event.text { Terminal.writeError(text) }
            return
        case .modelResponse:
            let echoed = state.withLock { tally in
                defer { tally.midReply = false }
                return tally.midReply
            }
            if echoed { Terminal.writeError("\n") } else if verbose, let text = event.text {
                write("       reply\(Self.origin(of: event)):\n" + Self.indented(text))
            }
        case .historyCompacted:
            write("       older turns were summarised to stay inside the model's window")
        default:
            break
        }
        drawStatus()
    }

    /// Starts redrawing the status line every second, so the clock moves while the model thinks.
    func start() {
        guard statusLine else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                self?.drawStatus()
            }
        }
        ticker.withLock { $0 = task }
    }

    /// Stops the ticker and leaves the last status on its own line.
    func finish() {
        ticker.withLock { $0?.cancel(); $0 = nil }
        guard statusLine else { return }
        clearStatus()
        Terminal.error("rlm: \(statusText())")
    }

    /// "turn 3 · sub-calls 120 done, 16 in flight · 45.2k tokens · $0.0123 · 12.3 s"
    func statusText() -> String {
        let tally = state.withLock { $0 }
        let elapsed = (ContinuousClock.now - started).seconds
        var parts = ["turn \(tally.turn)", "sub-calls \(tally.subCallsDone) done, \(tally.subCallsInFlight) in flight",
                     "\(Self.tokens(tally.inputTokens + tally.outputTokens)) tokens"
                         + (tally.cachedTokens > 0 ? " (\(Self.tokens(tally.cachedTokens)) cached)" : "")]
        if tally.unpriced.isEmpty, tally.inputTokens + tally.outputTokens > 0 { parts.append(String(format: "$%.4f", tally.costUSD)) }
        parts.append(String(format: "%.1f s", elapsed))
        return parts.joined(separator: " · ")
    }

    private func drawStatus() {
        guard statusLine, !state.withLock({ $0.midReply }) else { return }
        Terminal.writeControl("\r\u{1B}[K\u{1B}[2m\(TerminalText.inert(statusText()))\u{1B}[0m")
    }

    private func clearStatus() {
        guard statusLine else { return }
        Terminal.writeControl("\r\u{1B}[K")
    }

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
        clearStatus()
        Terminal.error(line)
    }
}
