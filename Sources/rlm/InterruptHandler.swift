import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Turns the first SIGINT into a cancellation of the run (so the partial answer and the log are written);
/// a second SIGINT ends the process at once.
final class InterruptHandler {
    private let source: any DispatchSourceSignal

    /// `onQuit` runs on a second SIGINT; when it returns true the process ends at once (exit code 130), when
    /// false the run's own report is already on its way out and the signal is ignored.
    init(onInterrupt: @escaping @Sendable () -> Void, onQuit: (@Sendable () -> Bool)? = nil) {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let count = AtomicCounter()
        source.setEventHandler {
            if count.increment() == 1 {
                FileHandle.standardError.write(Data("\nrlm: interrupted; stopping sub-calls and the REPL (Ctrl-C again to quit at once)\n".utf8))
                onInterrupt()
            } else if onQuit?() ?? true {
                exit(130)
            }
        }
        source.resume()
        self.source = source
    }

    /// Called when the run is over and only its report is left to print: a late SIGINT is ignored from here
    /// on, so it cannot cut that report short.
    func stop() {
        source.cancel()
        signal(SIGINT, SIG_IGN)
    }
}

import Synchronization

final class AtomicCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
}
