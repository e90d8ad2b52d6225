import Foundation
import Synchronization

/// A context loaded once into a REPL that never runs code, and forks a copy-on-write copy of itself for each new
/// session: the session starts with the context loaded, without paying for a new interpreter and a new load.
///
/// Each copy is a process of its own, so no session sees what another's code left (variables, modules,
/// `builtins`, threads, a mutated `context`). Under `strict` on Linux each copy also gets its own user, mount,
/// PID, network and IPC namespaces, fresh temporary folders and no capabilities, so it cannot see another copy's
/// files or processes, nor signal or trace them; a copy that cannot be walled off that way is not made
/// (``makeSession(rlm:)`` throws ``REPLError/forkFailed(_:)``) and the caller loads the context anew. Under
/// `basic` and `none` a copy is a plain fork with a folder of its own: those levels do not isolate the code from
/// the host's user, so they do not isolate copies from one another either. On macOS `strict` does not fork.
///
/// Copies share the pristine's sandbox: it lives until it is retired (``retire()``) and the last session forked
/// from it has closed.
public final class PristineContext: Sendable {
    let host: SessionHost
    /// Seconds it took to start the pristine REPL and load the context.
    public let loadSeconds: Double
    /// What the driver found in the context.
    public var contextDescription: ContextDescription { host.description }

    private struct Leases {
        var open = 0
        var retired = false
        var closing: Task<Void, Never>?
    }
    private let leases = Mutex(Leases())

    private init(host: SessionHost, loadSeconds: Double) {
        self.host = host
        self.loadSeconds = loadSeconds
    }

    /// Starts a REPL and loads `context` into it, to fork sessions from. The REPL runs `rlm`'s interpreter and
    /// sandbox; sessions forked from it must use the same ones.
    public static func load(rlm: RLM, context: RLMContext) async throws -> PristineContext {
        let started = ContinuousClock.now
        let host = try await SessionHost.start(configuration: rlm, context: context, origin: .pristine)
        return PristineContext(host: host, loadSeconds: (ContinuousClock.now - started).seconds)
    }

    /// A new session whose REPL is a fork of this one; its `loadSeconds` is the time the fork took.
    ///
    /// Throws ``REPLError/forkFailed(_:)`` when the copy could not be made or walled off (load the context anew
    /// then), and ``REPLError/closed`` once this pristine is closed.
    public func makeSession(rlm: RLM) async throws -> RLMSession {
        guard lease() else { throw REPLError.closed }
        let started = ContinuousClock.now
        let host = try await SessionHost.fork(from: host, configuration: rlm) { [self] in release() }
        return RLMSession(rlm: rlm, host: host, loadSeconds: (ContinuousClock.now - started).seconds)
    }

    /// Closes the pristine REPL as soon as no session forked from it is open (at once when none is); no session
    /// can be forked from it any more. Does not wait.
    public func retire() {
        leases.withLock { leases in
            leases.retired = true
            closeIfIdle(&leases)
        }
    }

    /// Stops the pristine REPL now and waits until it is gone. Under `strict`, the sessions forked from it stop
    /// with it (they live in its sandbox).
    public func close() async {
        let task = leases.withLock { leases -> Task<Void, Never> in
            leases.retired = true
            return closingTask(&leases)
        }
        await task.value
    }

    private func lease() -> Bool {
        leases.withLock { leases in
            guard !leases.retired else { return false }
            leases.open += 1
            return true
        }
    }

    private func release() {
        leases.withLock { leases in
            leases.open -= 1
            closeIfIdle(&leases)
        }
    }

    private func closeIfIdle(_ leases: inout Leases) {
        if leases.retired && leases.open == 0 { _ = closingTask(&leases) }
    }

    /// The task that closes the REPL, started the first time it is asked for.
    private func closingTask(_ leases: inout Leases) -> Task<Void, Never> {
        if let task = leases.closing { return task }
        let task = Task { [host] in await host.close() }
        leases.closing = task
        return task
    }
}
