import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One persistent Python interpreter holding `context`, driven over a private Unix socket.
///
/// Start it with ``withSession(context:configuration:subCalls:_:)``; the process (and any
/// restarted successor) lives exactly as long as the body. Sub-calls the code makes belong to the cell that made
/// them: an interrupted cell, a cell that ends without waiting for them, or a dead interpreter cancels them.
public actor REPLSession {
    public nonisolated let configuration: REPLConfiguration
    public nonisolated let interpreter: PythonInterpreter
    let sandbox: any REPLSandbox
    let context: PreparedContext
    let workDirectory: URL
    let subCalls: SubCallHandler
    let tools: REPLTools

    /// The context as the driver described it after loading.
    public internal(set) var contextDescription: ContextDescription?
    /// Seconds the driver took to load the context the first time.
    public internal(set) var contextLoadSeconds: Double = 0
    /// Largest resident memory any interpreter of this session reported, in bytes.
    public internal(set) var peakRSSBytes = 0

    enum State { case starting, ready, failed(any Error), closed }
    var state: State = .starting
    var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    var outgoing: AsyncStream<ByteBuffer>.Continuation?
    var connection: (any Channel)?
    var processID: pid_t?
    var pendingCell: (id: Int, continuation: CheckedContinuation<CellOutcome, Never>)?
    var nextCellID = 1
    var restarts = 0
    var generation = 0
    var killedByHost = false
    var shuttingDown = false

    /// Sub-calls in flight, by the driver's request id.
    var subCallTasks: [Int: Task<Void, Never>] = [:]
    /// The cell whose sub-calls are refused: it was interrupted at its time limit.
    var refusedCell: Int?
    /// The running cell's own time, paused while it waits on sub-calls.
    var cellClock = CellClock()

    /// Caps the number of processes in the sandbox, where cgroups can be managed.
    nonisolated let processCap: ProcessCountCap?

    init(configuration: REPLConfiguration, interpreter: PythonInterpreter, sandbox: any REPLSandbox,
         context: PreparedContext, workDirectory: URL, subCalls: @escaping SubCallHandler, tools: REPLTools = .none) {
        self.configuration = configuration
        self.interpreter = interpreter
        self.sandbox = sandbox
        self.processCap = sandbox.level == .none ? nil : ProcessCountCap.make(maxProcesses: configuration.resources.maxProcesses)
        self.context = context
        self.workDirectory = workDirectory
        self.subCalls = subCalls
        self.tools = tools
    }

    /// Starts an interpreter with `context` loaded, runs `body`, then stops every process it started.
    static func withSession<Result: Sendable>(
        configuration: REPLConfiguration,
        interpreter: PythonInterpreter,
        sandbox: any REPLSandbox,
        context: PreparedContext,
        subCalls: @escaping SubCallHandler,
        tools: REPLTools = .none,
        body: (REPLSession) async throws -> Result
    ) async throws -> Result {
        let workDirectory = try makeWorkDirectory(under: configuration.workRoot)
        defer { try? FileManager.default.removeItem(at: workDirectory) }
        try installDriver(in: workDirectory)
        try FileManager.default.createDirectory(at: workDirectory.appendingPathComponent("scratch"), withIntermediateDirectories: true)
        let session = REPLSession(configuration: configuration, interpreter: interpreter, sandbox: sandbox,
                                  context: context, workDirectory: workDirectory, subCalls: subCalls, tools: tools)
        do {
            let result = try await run(session, body: body)
            await session.processCap?.remove()
            return result
        } catch {
            await session.processCap?.remove()
            throw error
        }
    }

    private static func run<Result: Sendable>(_ session: REPLSession,
                                              body: (REPLSession) async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { try await session.supervise() }
            do {
                try await session.waitUntilReady()
                let result = try await withTaskCancellationHandler {
                    try await body(session)
                } onCancel: {
                    Task { await session.terminate() }
                }
                await session.shutdown()
                try await group.waitForAll()
                return result
            } catch {
                await session.terminate()
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    // MARK: Cells

    /// Runs one code block and waits for it, interrupting it at the cell timeout and restarting
    /// the interpreter if it dies or will not stop. Time the block spends waiting on sub-calls does not count
    /// toward the cell timeout (the run's own timeout bounds it).
    public func execute(_ code: String) async throws -> CellOutcome {
        try await waitUntilReady()
        let id = nextCellID
        nextCellID += 1
        let timeout = configuration.cellTimeout
        let grace = configuration.interruptGrace
        let started = ContinuousClock.now
        cellClock = CellClock(started: started)
        return await withTaskGroup(of: Void.self, returning: CellOutcome.self) { group in
            group.addTask { await self.watchdog(cell: id, timeout: timeout, grace: grace) }
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<CellOutcome, Never>) in
                self.pendingCell = (id, continuation)
                self.send(.exec(id: id, code: code))
            }
            group.cancelAll()
            var result = outcome
            if result.seconds == 0 { result.seconds = (ContinuousClock.now - started).seconds }
            return result
        }
    }

    /// Sends a host command that the driver answers like a cell (saving or loading variables), and waits.
    func runHostCommand(_ message: @Sendable (Int) -> HostMessage) async throws -> CellOutcome {
        try await waitUntilReady()
        let id = nextCellID
        nextCellID += 1
        return await withCheckedContinuation { (continuation: CheckedContinuation<CellOutcome, Never>) in
            pendingCell = (id, continuation)
            send(message(id))
        }
    }

    /// Sets `name` in the REPL's namespace to a JSON value; it takes effect before the next cell runs.
    public func setVariable(_ name: String, to value: JSONValue) async throws {
        try await waitUntilReady()
        send(.setVariable(name: name, value: value))
    }

    /// Interrupts the cell once its own time (sub-call waits excluded) passes `timeout`, cancelling its sub-calls
    /// at once; kills the interpreter if the cell has not stopped `grace` later.
    private func watchdog(cell id: Int, timeout: Duration, grace: Duration) async {
        while true {
            guard pendingCell?.id == id else { return }
            let remaining = timeout - cellClock.activeTime(at: .now)
            if remaining <= .zero { break }
            do { try await Task.sleep(for: remaining) } catch { return }
        }
        refusedCell = id
        cancelSubCalls()
        send(.interrupt(cell: id))
        do { try await Task.sleep(for: grace) } catch { return }
        guard pendingCell?.id == id else { return }
        killedByHost = true
        killProcessGroup()
    }

    /// Stops the running cell now, as its time limit would (interrupt, then kill after the grace period): for
    /// a session question whose deadline passed while its code ran. The REPL itself lives on.
    func interruptRunningCell() async {
        guard let id = pendingCell?.id else { return }
        refusedCell = id
        cancelSubCalls()
        send(.interrupt(cell: id))
        try? await Task.sleep(for: configuration.interruptGrace)
        guard pendingCell?.id == id else { return }
        killedByHost = true
        killProcessGroup()
    }

    func finishPendingCell(deathReason: String) {
        guard let pending = pendingCell else { return }
        pendingCell = nil
        pending.continuation.resume(returning: CellOutcome(
            stdout: "", stderr: "", stdoutTotal: 0, stderrTotal: 0, failed: true, errorType: nil,
            timedOut: killedByHost, interpreterRestarted: !shuttingDown, deathReason: deathReason,
            final: nil, finalSource: nil, restoredNames: [], seconds: 0))
    }

    // MARK: Life cycle

    func waitUntilReady() async throws {
        switch state {
        case .ready: return
        case .failed(let error): throw error
        case .closed: throw REPLError.closed
        case .starting:
            try await withCheckedThrowingContinuation { readyWaiters.append($0) }
        }
    }

    func becomeReady() {
        state = .ready
        let waiters = readyWaiters
        readyWaiters = []
        waiters.forEach { $0.resume() }
    }

    func fail(_ error: any Error) {
        state = .failed(error)
        let waiters = readyWaiters
        readyWaiters = []
        waiters.forEach { $0.resume(throwing: error) }
    }

    /// Asks the driver to exit and lets the supervisor wind down.
    func shutdown() {
        shuttingDown = true
        cancelSubCalls()
        if case .ready = state { send(.shutdown) } else { killProcessGroup() }
        state = .closed
        outgoing?.finish()
    }

    /// Kills the interpreter at once (cancellation, failure), and with it every sub-call it was waiting on.
    func terminate() {
        shuttingDown = true
        cancelSubCalls()
        killProcessGroup()
        state = .closed
        connection?.close(promise: nil)
        finishPendingCell(deathReason: "the run was cancelled")
    }

    func killProcessGroup() {
        guard let pid = processID else { return }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }

    /// Keeps an interpreter running until shutdown: starts one, and starts a fresh one when it dies.
    func supervise() async throws {
        while !shuttingDown {
            let end = await runIncarnation()
            if shuttingDown { return }
            switch end {
            case .startFailure(let error):
                fail(error)
                throw error
            case .died(let reason):
                restarts += 1
                finishPendingCell(deathReason: reason)
                if restarts > configuration.maxRestarts {
                    let error = REPLError.tooManyRestarts(restarts, reason)
                    fail(error)
                    throw error
                }
                state = .starting
                await settleBeforeRestart()
            }
        }
    }

    /// Waits until the dead interpreter's processes are really gone (a fork bomb keeps its process group
    /// full for a moment after the kill) and backs off a little more with each restart, so that a successor
    /// is not refused a fork and a crash loop does not spend every restart in a few milliseconds.
    private func settleBeforeRestart() async {
        if let processCap { _ = await processCap.drain() }
        try? await Task.sleep(for: .milliseconds(50 * restarts))
    }

    func send(_ message: HostMessage) {
        guard let outgoing, let data = try? JSONEncoder().encode(message) else { return }
        var buffer = ByteBuffer(bytes: data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        outgoing.yield(buffer)
    }
}

extension Duration {
    /// The duration in seconds, with its fraction (for logs, reports and benchmarks across the package).
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
