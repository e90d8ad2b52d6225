import Foundation
import RLMBench
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar on stderr for `rlm bench`, drawn only on a terminal: answers done, the last one, the
/// tasks in flight (with `--parallel`) and the mean score so far per method.
final class BenchProgressBar: Sendable {
    let total: Int
    let enabled: Bool

    private struct State {
        var done: Int
        var scoreSum: [BenchMethod: Double] = [:]
        var count: [BenchMethod: Int] = [:]
        /// (task, method) running now, oldest first.
        var running: [String] = []
        var last: BenchRecord?
    }

    private let state: Mutex<State>

    init(total: Int, alreadyDone: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
        state = Mutex(State(done: alreadyDone))
        draw(State(done: alreadyDone))
    }

    func handle(_ event: BenchRunner.Event) {
        // Drawn under the lock, so that two tasks finishing at once never draw an older line over a newer one.
        state.withLock { state in
            switch event {
            case .started(let task, let method):
                state.running.append("\(task) \(method.rawValue)")
            case .finished(let record):
                state.done += 1
                state.scoreSum[record.method, default: 0] += record.score
                state.count[record.method, default: 0] += 1
                state.running.removeAll { $0 == "\(record.task) \(record.method.rawValue)" }
                state.last = record
            }
            draw(state)
        }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ state: State) {
        guard enabled else { return }
        let width = 20
        let filled = total > 0 ? min(width, state.done * width / total) : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let last = state.last.map { " \($0.task) \($0.method.rawValue) \(String(format: "%.2f", $0.score))" } ?? ""
        // Two names at most, so the line stays on one terminal row.
        let running = state.running.isEmpty ? "" : " | running \(state.running.count): "
            + state.running.prefix(2).joined(separator: ", ") + (state.running.count > 2 ? ", …" : "")
        let means = BenchMethod.allCases.compactMap { method -> String? in
            guard let count = state.count[method], count > 0 else { return nil }
            return "\(method.rawValue) \(String(format: "%.2f", state.scoreSum[method, default: 0] / Double(count)))"
        }.joined(separator: ", ")
        // Most telling first, as the line is cut to the terminal's width: done, running, means, then the last answer.
        let line = "[\(bar)] \(state.done)/\(total)\(running)\(means.isEmpty ? "" : " | mean: \(means)")"
            + (last.isEmpty ? "" : " | last:\(last)")
        // A line that wraps could not be redrawn in place.
        Terminal.writeControl("\r\u{1B}[2K")
        Terminal.writeError(String(line.prefix(Self.columns() - 1)))
    }

    /// The width of the terminal on stderr, 80 when it does not say.
    static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}
