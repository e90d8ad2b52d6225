import Foundation
import RLMBench
import Synchronization

/// A one-line progress bar on stderr for `rlm bench`, drawn only on a terminal.
final class BenchProgressBar: Sendable {
    let total: Int
    let enabled: Bool
    private let state: Mutex<(done: Int, scoreSum: [BenchMethod: Double], count: [BenchMethod: Int])>

    init(total: Int, alreadyDone: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
        state = Mutex((alreadyDone, [:], [:]))
        draw(done: alreadyDone, last: nil, means: "")
    }

    func advance(with record: BenchRecord) {
        let (done, means) = state.withLock { state -> (Int, String) in
            state.done += 1
            state.scoreSum[record.method, default: 0] += record.score
            state.count[record.method, default: 0] += 1
            let means = BenchMethod.allCases.compactMap { method -> String? in
                guard let count = state.count[method], count > 0 else { return nil }
                return "\(method.rawValue) \(String(format: "%.2f", state.scoreSum[method, default: 0] / Double(count)))"
            }.joined(separator: ", ")
            return (state.done, means)
        }
        draw(done: done, last: record, means: means)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(done: Int, last: BenchRecord?, means: String) {
        guard enabled else { return }
        let width = 30
        let filled = total > 0 ? min(width, done * width / total) : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let current = last.map { " \($0.task) \($0.method.rawValue) \(String(format: "%.2f", $0.score))" } ?? ""
        Terminal.writeControl("\r\u{1B}[2K")
        Terminal.writeError("[\(bar)] \(done)/\(total)\(current)\(means.isEmpty ? "" : " | mean: \(means)")")
    }
}
