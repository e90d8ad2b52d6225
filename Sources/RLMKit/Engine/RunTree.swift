import Foundation
import Synchronization

/// What every RLM of one recursion tree shares: accounting, concurrency, events, the interpreter and sandbox.
struct RunTree: Sendable {
    let configuration: RLM
    let ledger: RunLedger
    /// Model calls in flight anywhere in the tree below the top-level root.
    let modelCalls: ConcurrencyLimiter
    /// Child RLMs alive at each depth (one pool per level, so a parent never waits on its own children's slots).
    let childSlots: [ConcurrencyLimiter]
    let recorder: EventRecorder
    let subCallIDs = Counter()
    let childIDs = Counter()
    let python: PythonInterpreter
    let sandbox: any REPLSandbox
    let scratch: URL
    /// The root and sub models' context windows.
    let windows: RunWindows
    /// The REPL configuration with its output share fitted to the root window.
    let repl: REPLConfiguration

    var subModel: any LanguageModel { configuration.subModel ?? configuration.rootModel }
}

/// The latest state of one RLM, kept outside its loop so a cancelled or timed-out run can still report it.
final class RunProgress: Sendable {
    private let state = Mutex((iterations: 0, lastProse: ""))
    func update(iteration: Int, prose: String) {
        state.withLock {
            $0.iterations = iteration
            if !prose.isEmpty { $0.lastProse = prose }
        }
    }
    var snapshot: (iterations: Int, lastProse: String) { state.withLock { $0 } }
}
