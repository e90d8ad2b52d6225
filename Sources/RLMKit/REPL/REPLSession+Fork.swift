import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Forked copies: a pristine REPL (its context loaded, no code ever run) forks a copy-on-write child for each
/// new session, and that session adopts the child as its interpreter. The copy starts with the context loaded,
/// in a process of its own; under `strict` it is walled off from its siblings before any code runs (see
/// `rlm_driver.py`, `Isolation`), and a copy that cannot be walled off is not made.
extension REPLSession {
    /// Where an incarnation's interpreter comes from.
    enum Origin: Sendable {
        /// A new interpreter started in the sandbox, which loads the context.
        case spawned
        /// A new interpreter that will fork copies and run no code: its process cap covers all its copies
        /// (``copiesPerPristine`` of them), and each copy caps itself at the configured number.
        case pristine
        /// A fork of the pristine REPL's interpreter, with the context already loaded. A restart forks again.
        case forked(from: REPLSession)
    }

    /// How a fork of this REPL's interpreter is kept apart from its siblings; nil where it cannot be.
    enum ForkIsolation: Sendable, Equatable {
        /// `strict` on Linux: new user, mount, PID, network and IPC namespaces, fresh tmpfs over every writable
        /// place, the rest remounted read-only, no capabilities, not dumpable.
        case namespaces
        /// `basic` and `none`: a plain fork in a session of its own with a fresh folder. Those levels do not
        /// isolate the code from the host's user, so they do not isolate copies from one another either.
        case plainFork
    }

    nonisolated var forkIsolation: ForkIsolation? {
        switch sandbox.level {
        case .none, .basic: return .plainFork
        case .strict:
            #if os(Linux)
            return sandbox is BubblewrapSandbox ? .namespaces : nil
            #else
            return nil
            #endif
        }
    }

    /// Forks this pristine interpreter into a copy that connects to `request.socket`; returns once the copy
    /// reports it is set up, or throws ``REPLError/forkFailed(_:)`` saying which step failed.
    func fork(_ request: ForkRequest) async throws {
        while true {
            switch machine.beginFork() {
            case .fork(let id):
                let failure = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                    pendingForks[id] = continuation
                    send(.fork(id: id, request))
                }
                if let failure { throw REPLError.forkFailed(failure) }
                return
            case .waitUntilReady:
                try await waitForReadyEvent()
            case .reject(let error):
                throw error
            }
        }
    }

    /// Answers the forks still waiting when the pristine interpreter goes away.
    func failPendingForks(_ reason: String) {
        let waiting = pendingForks.values
        pendingForks.removeAll()
        for continuation in waiting { continuation.resume(returning: reason) }
    }

    /// The forked copy connected: its process (id from the socket) is this incarnation's, to stop and to kill.
    func adoptProcess(pid: Int32) {
        perform(machine.processStarted(pid: pid))
    }

    /// One incarnation in a fork of `pristine`: a socket of its own in the pristine's channel directory (the
    /// only folder of the host the sandbox sees), the fork, and then the channel until it closes. The copy is
    /// not this process's child, so its end is its channel's end; whatever is left of it is killed then.
    func runForkedIncarnation(generation: Int, pristine: REPLSession) async -> IncarnationEnd {
        guard let isolation = pristine.forkIsolation else {
            return .startFailure(.forkFailed("the \(pristine.sandbox.level.rawValue) sandbox on this system cannot isolate forked copies"))
        }
        let socketPath = pristine.workDirectory.appendingPathComponent("fork-\(UUID().uuidString.prefix(13)).sock").path
        let token = UUID().uuidString
        let listener: DriverListener
        do {
            listener = try await Self.listen(at: socketPath)
        } catch {
            return .startFailure(error)
        }
        defer { try? FileManager.default.removeItem(atPath: socketPath) }
        let workdir = isolation == .namespaces ? Self.sandboxScratch : workDirectory.appendingPathComponent("scratch").path
        // Each copy caps its own processes as a REPL of its own would be (no control group of its own).
        let cap = ProcessCapPolicy(level: sandbox.level, countsPerUserNamespace: sandbox.countsProcessesPerUserNamespace,
                                   hasCgroup: false, cap: configuration.resources.maxProcesses)
        let request = ForkRequest(socket: socketPath, token: token, workdir: workdir,
                                  channelDirectory: pristine.workDirectory.path, isolate: isolation == .namespaces,
                                  scratchBytes: configuration.resources.scratchMB << 20,
                                  processes: cap.rlimit, watchProcesses: cap.watch)
        var end: IncarnationEnd = .died("its channel closed")
        await withTaskGroup(of: IncarnationEvent?.self) { group in
            group.addTask { await self.serve(listener: listener, token: token) }
            do {
                try await pristine.fork(request)
            } catch {
                listener.close()
                _ = await group.next()
                end = .startFailure(error as? REPLError ?? .forkFailed("\(error)"))
                return
            }
            // The copy connects before it reports that it is set up; a copy that never does is given up.
            group.addTask {
                try? await Task.sleep(for: Self.forkConnectTimeout)
                if await self.machine.processID == nil { listener.close() }
                return nil
            }
            while let event = await group.next() {
                guard let event else { continue }
                if case .protocolViolation(let reason) = event { perform(machine.protocolViolated(reason)) }
                group.cancelAll()
                listener.close()
            }
        }
        if machine.processID == nil, case .died = end {
            end = .startFailure(.forkFailed("the forked copy did not connect within \(Self.forkConnectTimeout)"))
        }
        killProcessGroup()
        clearIncarnation()
        return end
    }

    static let forkConnectTimeout: Duration = .seconds(10)

    /// How many copies' worth of processes a pristine's own cap allows: more than `rlm serve` keeps at once
    /// (its sessions plus the runs under way).
    static let copiesPerPristine = 64

    /// The process cap of one interpreter of this session: a pristine's covers all its copies.
    nonisolated var processCapSize: Int { Self.processCapSize(origin: origin, configured: configuration.resources.maxProcesses) }

    static func processCapSize(origin: Origin, configured: Int) -> Int {
        if case .pristine = origin { return configured * copiesPerPristine }
        return configured
    }

    /// The copy's working folder under `strict`: the sandbox's scratch path, where the copy mounts a fresh tmpfs.
    private static var sandboxScratch: String {
        #if os(Linux)
        BubblewrapSandbox.scratch
        #else
        "/tmp"
        #endif
    }
}

/// What a pristine driver needs to fork a copy: the copy's socket and token, its working folder, and whether
/// (and how large) to wall it off.
struct ForkRequest: Encodable, Sendable {
    var socket: String
    var token: String
    var workdir: String
    var channelDirectory: String
    var isolate: Bool
    var scratchBytes: Int
    /// The copy's own `RLIMIT_NPROC` (lowered from the pristine's) and process watch.
    var processes: Int?
    var watchProcesses: Int?

    enum CodingKeys: String, CodingKey {
        case socket, token, workdir, isolate, processes
        case channelDirectory = "channel_directory"
        case scratchBytes = "scratch_bytes"
        case watchProcesses = "watch_processes"
    }
}
