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
    /// Where each incarnation's interpreter comes from: started anew, or forked from a pristine REPL.
    nonisolated let origin: Origin

    /// The context as the driver described it after loading.
    public internal(set) var contextDescription: ContextDescription?
    /// Seconds the driver took to load the context the first time.
    public internal(set) var contextLoadSeconds: Double = 0
    /// Largest resident memory any interpreter of this session reported, in bytes.
    public internal(set) var peakRSSBytes = 0

    /// The life cycle; every change of it goes through one of its events.
    var machine: StateMachine
    /// The current interpreter's process id (the sandbox's, when there is one).
    var processID: pid_t? { machine.processID }
    /// Callers of ``execute(_:)`` waiting for the interpreter to (re)start.
    let readyWaiters = WaiterQueue<Void, Void>()
    /// The caller of the running cell, resumed when the driver answers or the interpreter dies.
    var pendingCell: (id: Int, continuation: CheckedContinuation<CellOutcome, Never>)?
    var outgoing: AsyncStream<ByteBuffer>.Continuation?
    var connection: (any Channel)?
    /// Callers of ``fork(_:)`` waiting for the driver's answer, by fork id: nil when the copy is set up, else why not.
    var pendingForks: [Int: CheckedContinuation<String?, Never>] = [:]
    /// Terminates a driver that does not exit after `shutdown`.
    var shutdownDeadline: Task<Void, Never>?

    /// Sub-calls and tool calls in flight, by the driver's request id, with the bytes of their request.
    var subCallTasks: [Int: (task: Task<Void, Never>, bytes: Int)] = [:]
    /// The running cell's own time, paused while it waits on sub-calls.
    var cellClock = CellClock()

    /// Caps the number of processes in the sandbox, where cgroups can be managed.
    nonisolated let processCap: ProcessCountCap?

    init(configuration: REPLConfiguration, interpreter: PythonInterpreter, sandbox: any REPLSandbox,
         context: PreparedContext, workDirectory: URL, subCalls: @escaping SubCallHandler, tools: REPLTools = .none,
         origin: Origin = .spawned) {
        self.configuration = configuration
        self.interpreter = interpreter
        self.sandbox = sandbox
        // A forked copy lives in its pristine's sandbox (and control group); it starts no process of its own.
        let forked = if case .forked = origin { true } else { false }
        self.processCap = sandbox.level == .none || forked ? nil : ProcessCountCap.make(
            maxProcesses: Self.processCapSize(origin: origin, configured: configuration.resources.maxProcesses))
        self.context = context
        self.workDirectory = workDirectory
        self.subCalls = subCalls
        self.tools = tools
        self.origin = origin
        self.machine = StateMachine(maxRestarts: configuration.maxRestarts)
    }

    /// Starts an interpreter with `context` loaded, runs `body`, then stops every process it started.
    static func withSession<Result: Sendable>(
        configuration: REPLConfiguration,
        interpreter: PythonInterpreter,
        sandbox: any REPLSandbox,
        context: PreparedContext,
        subCalls: @escaping SubCallHandler,
        tools: REPLTools = .none,
        origin: Origin = .spawned,
        body: (REPLSession) async throws -> Result
    ) async throws -> Result {
        let workDirectory = try makeWorkDirectory(under: configuration.workRoot)
        defer { try? FileManager.default.removeItem(at: workDirectory) }
        try installDriver(in: workDirectory)
        try FileManager.default.createDirectory(at: workDirectory.appendingPathComponent("scratch"), withIntermediateDirectories: true)
        let session = REPLSession(configuration: configuration, interpreter: interpreter, sandbox: sandbox,
                                  context: context, workDirectory: workDirectory, subCalls: subCalls, tools: tools,
                                  origin: origin)
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
    ///
    /// One cell at a time: a call made while another cell of this session runs throws ``REPLError/busy``.
    public func execute(_ code: String) async throws -> CellOutcome {
        let id = try await admitCell()
        let timeout = configuration.cellTimeout
        let grace = configuration.interruptGrace
        let started = ContinuousClock.now
        cellClock = CellClock(started: started)
        return await withTaskGroup(of: Void.self, returning: CellOutcome.self) { group in
            group.addTask { await self.watchdog(cell: id, timeout: timeout, grace: grace) }
            var result = await awaitCell(id, sending: .exec(id: id, code: code))
            group.cancelAll()
            if result.seconds == 0 { result.seconds = (ContinuousClock.now - started).seconds }
            return result
        }
    }

    /// Sends a host command that the driver answers like a cell (saving or loading variables), and waits.
    func runHostCommand(_ message: @Sendable (Int) -> HostMessage) async throws -> CellOutcome {
        let id = try await admitCell()
        return await awaitCell(id, sending: message(id))
    }

    /// Sets `name` in the REPL's namespace to a JSON value; it takes effect before the next cell runs.
    public func setVariable(_ name: String, to value: JSONValue) async throws {
        try await waitUntilReady()
        send(.setVariable(name: name, value: value))
    }

    /// A cell id once the interpreter is ready and idle; waits while it (re)starts.
    private func admitCell() async throws -> Int {
        while true {
            switch machine.beginCell() {
            case .run(let cell): return cell
            case .reject(let error): throw error
            case .waitUntilReady: try await waitForReadyEvent()
            }
        }
    }

    /// Sends the cell's message and waits for its answer (or the interpreter's death).
    private func awaitCell(_ id: Int, sending message: HostMessage) async -> CellOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<CellOutcome, Never>) in
            guard machine.currentCell == id else {
                // The interpreter went away between admission and now.
                continuation.resume(returning: .lost(reason: "the interpreter stopped before the cell could run",
                                                     restarted: !machine.isStopping))
                return
            }
            pendingCell = (id, continuation)
            send(message)
        }
    }

    /// Interrupts the cell once its own time (sub-call waits excluded) passes `timeout`, cancelling its sub-calls
    /// at once; kills the interpreter if the cell has not stopped `grace` later.
    private func watchdog(cell id: Int, timeout: Duration, grace: Duration) async {
        while true {
            guard machine.currentCell == id else { return }
            let remaining = timeout - cellClock.activeTime(at: .now)
            if remaining <= .zero { break }
            do { try await Task.sleep(for: remaining) } catch { return }
        }
        await interrupt(cell: id, grace: grace)
    }

    /// Stops the running cell now, as its time limit would (interrupt, then kill after the grace period): for
    /// a session question whose deadline passed while its code ran. The REPL itself lives on.
    func interruptRunningCell() async {
        guard let id = machine.currentCell else { return }
        await interrupt(cell: id, grace: configuration.interruptGrace)
    }

    private func interrupt(cell id: Int, grace: Duration) async {
        guard case .interrupt = machine.timeLimitReached(cell: id) else { return }
        cancelSubCalls()
        send(.interrupt(cell: id))
        try? await Task.sleep(for: grace)
        perform(machine.graceExpired(cell: id))
    }

    /// Resumes the caller of `cell` with a failed outcome: its interpreter died or the session stopped.
    func finishPendingCell(_ cell: Int?, deathReason: String, timedOut: Bool = false, restarted: Bool) {
        guard let cell, let pending = pendingCell, pending.id == cell else { return }
        pendingCell = nil
        var outcome = CellOutcome.lost(reason: deathReason, restarted: restarted)
        outcome.timedOut = timedOut
        pending.continuation.resume(returning: outcome)
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
