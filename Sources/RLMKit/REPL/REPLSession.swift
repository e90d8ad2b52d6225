import Foundation
import NIOCore
import NIOPosix
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the REPL process is started and how long its cells may run.
public struct REPLConfiguration: Sendable {
    /// Interpreter path or name; nil looks up `python3` on PATH.
    public var python: String?
    /// Longest time one code block may run before it is interrupted.
    public var cellTimeout: Duration
    /// Characters of stdout (and, separately, of stderr) kept from one code block.
    public var maxOutputChars: Int
    /// Time a cell gets to stop after an interrupt before the interpreter is killed and restarted.
    public var interruptGrace: Duration
    /// How often a dead interpreter is restarted in one run before the run gives up.
    public var maxRestarts: Int
    /// Folder under which each run gets its private working directory; nil uses the system's temp folder.
    public var workRoot: URL?
    /// Isolation of the REPL process; nil picks the strongest that works here and warns when that is not `strict`.
    public var sandbox: SandboxLevel?
    /// Memory, CPU, file-size and process caps of the REPL process.
    public var resources: REPLResourceLimits

    public init(python: String? = nil, cellTimeout: Duration = .seconds(120), maxOutputChars: Int = 20_000,
                interruptGrace: Duration = .seconds(3), maxRestarts: Int = 5, workRoot: URL? = nil,
                sandbox: SandboxLevel? = nil, resources: REPLResourceLimits = .init()) {
        self.sandbox = sandbox
        self.resources = resources
        self.python = python
        self.cellTimeout = cellTimeout
        self.maxOutputChars = maxOutputChars
        self.interruptGrace = interruptGrace
        self.maxRestarts = maxRestarts
        self.workRoot = workRoot
    }
}

/// What one code block did.
public struct CellOutcome: Sendable {
    public var stdout: String
    public var stderr: String
    /// Characters the block wrote to stdout / stderr in all, before truncation.
    public var stdoutTotal: Int
    public var stderrTotal: Int
    /// The block raised an exception (or was interrupted).
    public var failed: Bool
    /// The block ran past the cell timeout and was interrupted.
    public var timedOut: Bool
    /// The interpreter died or had to be killed; a fresh one with `context` reloaded has taken its place.
    public var interpreterRestarted: Bool
    /// Why the interpreter died, when it did.
    public var deathReason: String?
    /// The answer this block submitted, if any.
    public var final: String?
    public var finalSource: String?
    public var restoredNames: [String]
    public var seconds: Double
}

/// Failures of the REPL process that end a run.
public enum REPLError: Error, CustomStringConvertible, Sendable {
    case driverMissing
    case contextUnloadable(String)
    case startFailed(String)
    case tooManyRestarts(Int, String)
    case closed

    public var description: String {
        switch self {
        case .driverMissing:
            return "the REPL driver script (rlm_driver.py) is missing from the RLMKit resources; reinstall rlm."
        case .contextUnloadable(let detail):
            return "the REPL could not load the context: \(detail)"
        case .startFailed(let detail):
            return "the Python REPL process did not start: \(detail)"
        case .tooManyRestarts(let count, let last):
            return "the Python interpreter died \(count) times in this run (last: \(last)); giving up."
        case .closed:
            return "the REPL session has already been shut down."
        }
    }
}

/// Handles a sub-call request from the model's code; returns one string per prompt, in order.
public typealias SubCallHandler = @Sendable (SubCallRequest) async -> [String]

/// One persistent Python interpreter holding `context`, driven over a private Unix socket.
///
/// Start it with ``withSession(configuration:context:subCalls:body:)``; the process (and any restarted
/// successor) lives exactly as long as the body.
public actor REPLSession {
    public nonisolated let configuration: REPLConfiguration
    public nonisolated let interpreter: PythonInterpreter
    let sandbox: any REPLSandbox
    let context: PreparedContext
    let workDirectory: URL
    private let subCalls: SubCallHandler

    /// The context as the driver described it after loading.
    public private(set) var contextDescription: ContextDescription?
    /// Seconds the driver took to load the context the first time.
    public private(set) var contextLoadSeconds: Double = 0
    /// Largest resident memory any interpreter of this session reported, in bytes.
    public private(set) var peakRSSBytes = 0

    private enum State { case starting, ready, failed(any Error), closed }
    private var state: State = .starting
    private var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    private var outgoing: AsyncStream<ByteBuffer>.Continuation?
    private var connection: (any Channel)?
    private var processID: pid_t?
    private var pendingCell: (id: Int, continuation: CheckedContinuation<CellOutcome, Never>)?
    private var nextCellID = 1
    private var restarts = 0
    private var generation = 0
    private var killedByHost = false
    private var shuttingDown = false

    /// Caps the number of processes in the sandbox, where cgroups can be managed.
    nonisolated let processCap: ProcessCountCap?

    init(configuration: REPLConfiguration, interpreter: PythonInterpreter, sandbox: any REPLSandbox,
         context: PreparedContext, workDirectory: URL, subCalls: @escaping SubCallHandler) {
        self.configuration = configuration
        self.interpreter = interpreter
        self.sandbox = sandbox
        self.processCap = sandbox.level == .none ? nil : ProcessCountCap.make(maxProcesses: configuration.resources.maxProcesses)
        self.context = context
        self.workDirectory = workDirectory
        self.subCalls = subCalls
    }

    /// Starts an interpreter with `context` loaded, runs `body`, then stops every process it started.
    static func withSession<Result: Sendable>(
        configuration: REPLConfiguration,
        interpreter: PythonInterpreter,
        sandbox: any REPLSandbox,
        context: PreparedContext,
        subCalls: @escaping SubCallHandler,
        body: (REPLSession) async throws -> Result
    ) async throws -> Result {
        let workDirectory = try makeWorkDirectory(under: configuration.workRoot)
        defer { try? FileManager.default.removeItem(at: workDirectory) }
        try installDriver(in: workDirectory)
        try FileManager.default.createDirectory(at: workDirectory.appendingPathComponent("scratch"), withIntermediateDirectories: true)
        let session = REPLSession(configuration: configuration, interpreter: interpreter, sandbox: sandbox,
                                  context: context, workDirectory: workDirectory, subCalls: subCalls)
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
    /// the interpreter if it dies or will not stop.
    public func execute(_ code: String) async throws -> CellOutcome {
        try await waitUntilReady()
        let id = nextCellID
        nextCellID += 1
        let timeout = configuration.cellTimeout
        let grace = configuration.interruptGrace
        let started = ContinuousClock.now
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

    /// Sets `name` in the REPL's namespace to a JSON value; it takes effect before the next cell runs.
    public func setVariable(_ name: String, to value: JSONValue) async throws {
        try await waitUntilReady()
        send(.setVariable(name: name, value: value))
    }

    private func watchdog(cell id: Int, timeout: Duration, grace: Duration) async {
        do { try await Task.sleep(for: timeout) } catch { return }
        guard pendingCell?.id == id else { return }
        send(.interrupt)
        do { try await Task.sleep(for: grace) } catch { return }
        guard pendingCell?.id == id else { return }
        killedByHost = true
        killProcessGroup()
    }

    // MARK: Life cycle

    private func waitUntilReady() async throws {
        switch state {
        case .ready: return
        case .failed(let error): throw error
        case .closed: throw REPLError.closed
        case .starting:
            try await withCheckedThrowingContinuation { readyWaiters.append($0) }
        }
    }

    private func becomeReady() {
        state = .ready
        let waiters = readyWaiters
        readyWaiters = []
        waiters.forEach { $0.resume() }
    }

    private func fail(_ error: any Error) {
        state = .failed(error)
        let waiters = readyWaiters
        readyWaiters = []
        waiters.forEach { $0.resume(throwing: error) }
    }

    /// Asks the driver to exit and lets the supervisor wind down.
    func shutdown() {
        shuttingDown = true
        if case .ready = state { send(.shutdown) } else { killProcessGroup() }
        state = .closed
        outgoing?.finish()
    }

    /// Kills the interpreter at once (cancellation, failure).
    func terminate() {
        shuttingDown = true
        killProcessGroup()
        state = .closed
        connection?.close(promise: nil)
        finishPendingCell(deathReason: "the run was cancelled")
    }

    private func killProcessGroup() {
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

    private enum IncarnationEnd: Sendable {
        case startFailure(any Error)
        case died(String)
    }

    private enum IncarnationEvent: Sendable {
        case processExited(TerminationStatus, String)
        case channelClosed
    }

    private func runIncarnation() async -> IncarnationEnd {
        generation += 1
        killedByHost = false
        let socketPath = workDirectory.appendingPathComponent("channel-\(generation).sock").path
        let token = UUID().uuidString
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFramer()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            return .startFailure(REPLError.startFailed("cannot open the REPL socket at \(socketPath): \(error)"))
        }
        let launch = SandboxLaunch(interpreter: interpreter,
                                   driverPath: workDirectory.appendingPathComponent("rlm_driver.py").path,
                                   channelDirectory: workDirectory.path,
                                   hostScratchDirectory: workDirectory.appendingPathComponent("scratch").path,
                                   readOnlyPaths: [context.path], limits: configuration.resources)
        let sandboxed = sandbox.command(for: launch)
        let command = processCap?.wrap(sandboxed) ?? sandboxed
        let contextBytes = (try? FileManager.default.attributesOfItem(atPath: context.path)[.size] as? Int) ?? 0
        let resources = configuration.resources
        let bootstrap = Bootstrap(socket: socketPath, token: token,
                                  context: .init(path: context.path, format: context.format.rawValue),
                                  maxOutputChars: configuration.maxOutputChars, workdir: command.scratchDirectory,
                                  limits: .init(memoryBytes: resources.memoryBytes(contextBytes: contextBytes),
                                                cpuSeconds: resources.cpuSeconds,
                                                fileBytes: resources.maxFileMB << 20,
                                                processes: resources.maxProcesses))
        var end: IncarnationEnd = .died("the interpreter exited")
        await withTaskGroup(of: IncarnationEvent.self) { group in
            group.addTask { await self.runProcess(command: command, bootstrap: bootstrap) }
            group.addTask { await self.serve(server: server, token: token) }
            guard let first = await group.next() else { return }
            switch first {
            case .processExited(let status, let stderrTail):
                // The process is gone; a daemonised grandchild may still hold the socket open.
                self.closeConnection()
                server.channel.close(promise: nil)
                _ = await group.next()
                end = self.describeExit(status: status, stderrTail: stderrTail)
            case .channelClosed:
                server.channel.close(promise: nil)
                let exited = await self.awaitExit(of: &group)
                if case .processExited(let status, let stderrTail)? = exited {
                    end = self.describeExit(status: status, stderrTail: stderrTail)
                }
            }
        }
        clearIncarnation()
        return end
    }

    /// Waits briefly for the process after its channel closed, then kills it.
    private func awaitExit(of group: inout TaskGroup<IncarnationEvent>) async -> IncarnationEvent? {
        let pid = processID
        let killer = Task {
            try await Task.sleep(for: .seconds(2))
            if let pid { kill(-pid, SIGKILL); kill(pid, SIGKILL) }
        }
        let event = await group.next()
        killer.cancel()
        return event
    }

    private func describeExit(status: TerminationStatus, stderrTail: String) -> IncarnationEnd {
        let tail = stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
        let lastLines = tail.split(separator: "\n").suffix(5).joined(separator: "\n")
        if case .failed(let error) = state, contextDescription == nil { return .startFailure(error) }
        if contextDescription == nil && !shuttingDown {
            return .startFailure(REPLError.startFailed("the interpreter exited (\(status)) before loading the context"
                                                       + (lastLines.isEmpty ? "" : ":\n\(lastLines)")))
        }
        if killedByHost {
            return .died("it did not stop after the cell timeout and was killed")
        }
        var reason: String
        switch status {
        case .signaled(SIGKILL): reason = "it was killed (SIGKILL; often the out-of-memory killer or a memory cap)"
        case .signaled(let signal): reason = "it was terminated by signal \(signal)"
        case .exited(let code): reason = "it exited with status \(code)"
        #if os(Windows)
        default: reason = "it ended"
        #endif
        }
        if !lastLines.isEmpty { reason += ": \(lastLines)" }
        return .died(reason)
    }

    private func clearIncarnation() {
        outgoing?.finish()
        outgoing = nil
        connection = nil
        processID = nil
    }

    private func closeConnection() {
        connection?.close(promise: nil)
    }

    private func processStarted(pid: pid_t) {
        processID = pid
        if shuttingDown { killProcessGroup() }
    }

    private nonisolated func runProcess(command: SandboxCommand, bootstrap: Bootstrap) async -> IncarnationEvent {
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group, so the terminal's Ctrl-C reaches only the host
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(100))]
        do {
            let line = String(decoding: try JSONEncoder().encode(bootstrap), as: UTF8.self) + "\n"
            let result = try await Subprocess.run(
                .path(FilePath(command.executable)),
                arguments: Arguments(command.arguments),
                environment: .custom(Self.environment(home: command.scratchDirectory)),
                workingDirectory: FilePath(workDirectory.path),
                platformOptions: options,
                input: .inputWriter,
                output: .discarded,
                error: .sequence
            ) { execution in
                await self.processStarted(pid: execution.processIdentifier.value)
                _ = try? await execution.standardInputWriter.write(line)
                try? await execution.standardInputWriter.finish()
                var tail: [UInt8] = []
                do {
                    for try await chunk in execution.standardError {
                        chunk.withUnsafeBytes { tail.append(contentsOf: $0) }
                        if tail.count > 16_384 { tail.removeFirst(tail.count - 8_192) }
                    }
                } catch {}
                return String(decoding: tail, as: UTF8.self)
            }
            return .processExited(result.terminationStatus, result.closureResult)
        } catch {
            return .processExited(.exited(127), "could not start \(command.executable): \(error)")
        }
    }

    /// The REPL's whole environment: an allow-list, so no API key or other secret reaches it.
    static func environment(home: String) -> [Environment.Key: String] {
        let inherited = ProcessInfo.processInfo.environment
        var values: [String: String] = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        ]
        for name in ["TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] {
            if let value = inherited[name] { values[name] = value }
        }
        var result: [Environment.Key: String] = [:]
        for (key, value) in values {
            if let key = Environment.Key(rawValue: key) { result[key] = value }
        }
        return result
    }

    private nonisolated func serve(
        server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, token: String
    ) async -> IncarnationEvent {
        do {
            try await server.executeThenClose { connections in
                var iterator = connections.makeAsyncIterator()
                guard let connection = try await iterator.next() else { return }
                server.channel.close(promise: nil)  // exactly one peer: the driver we started
                try await connection.executeThenClose { inbound, outbound in
                    // One writer drains the queue, so messages leave in the order they were sent.
                    let (queue, queued) = AsyncStream.makeStream(of: ByteBuffer.self)
                    await self.attach(connection: connection.channel, outgoing: queued)
                    try await withThrowingDiscardingTaskGroup { subCallTasks in
                        subCallTasks.addTask {
                            for await buffer in queue { try await outbound.write(buffer) }
                        }
                        defer { queued.finish() }
                        for try await line in inbound {
                            guard let message = try? JSONDecoder().decode(DriverMessage.self, from: Data(line.readableBytesView)) else { continue }
                            if message.type == "llm_request" {
                                subCallTasks.addTask { await self.answerSubCall(message) }
                            } else {
                                await self.handle(message, token: token)
                            }
                        }
                    }
                }
            }
        } catch {}
        return .channelClosed
    }

    private func attach(connection: any Channel, outgoing: AsyncStream<ByteBuffer>.Continuation) {
        self.connection = connection
        self.outgoing = outgoing
        if shuttingDown { connection.close(promise: nil) }
    }

    private nonisolated func answerSubCall(_ message: DriverMessage) async {
        guard let id = message.id, let prompts = message.prompts else { return }
        let request = SubCallRequest(kind: SubCallRequest.Kind(rawValue: message.kind ?? "llm") ?? .llm,
                                     prompts: prompts, contexts: message.contexts, model: message.model)
        var results = await subCalls(request)
        if results.count != prompts.count {
            results = Array(repeating: "Error: the host returned \(results.count) results for \(prompts.count) prompts", count: prompts.count)
        }
        await send(.llmResult(id: id, results: results))
    }

    private func handle(_ message: DriverMessage, token: String) {
        if let kilobytes = message.peakRSSKilobytes { peakRSSBytes = max(peakRSSBytes, kilobytes * 1024) }
        switch message.type {
        case "ready":
            guard message.token == token else { return }
            if contextDescription == nil {
                contextDescription = message.description
                contextLoadSeconds = message.loadSeconds ?? 0
            }
            becomeReady()
        case "fatal":
            guard message.token == token else { return }
            fail(REPLError.contextUnloadable(message.message ?? "unknown reason"))
        case "exec_result":
            guard let id = message.id, let pending = pendingCell, pending.id == id else { return }
            pendingCell = nil
            let stdout = message.stdout ?? CapturedText(head: "", tail: "", total: 0)
            let stderr = message.stderr ?? CapturedText(head: "", tail: "", total: 0)
            pending.continuation.resume(returning: CellOutcome(
                stdout: OutputTruncation.join(stdout), stderr: OutputTruncation.join(stderr),
                stdoutTotal: stdout.total, stderrTotal: stderr.total,
                failed: message.error ?? false, timedOut: message.interrupted ?? false,
                interpreterRestarted: false, deathReason: nil,
                final: message.final, finalSource: message.finalSource,
                restoredNames: message.restored ?? [], seconds: message.seconds ?? 0))
        default:
            break
        }
    }

    private func finishPendingCell(deathReason: String) {
        guard let pending = pendingCell else { return }
        pendingCell = nil
        pending.continuation.resume(returning: CellOutcome(
            stdout: "", stderr: "", stdoutTotal: 0, stderrTotal: 0, failed: true,
            timedOut: killedByHost, interpreterRestarted: !shuttingDown, deathReason: deathReason,
            final: nil, finalSource: nil, restoredNames: [], seconds: 0))
    }

    private func send(_ message: HostMessage) {
        guard let outgoing, let data = try? JSONEncoder().encode(message) else { return }
        var buffer = ByteBuffer(bytes: data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        outgoing.yield(buffer)
    }

    // MARK: Files

    private static func makeWorkDirectory(under root: URL?) throws -> URL {
        let base = root ?? FileManager.default.temporaryDirectory
        let directory = base.appendingPathComponent("rlm-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return directory
    }

    private static func installDriver(in directory: URL) throws {
        guard let source = Bundle.module.url(forResource: "rlm_driver", withExtension: "py") else {
            throw REPLError.driverMissing
        }
        try FileManager.default.copyItem(at: source, to: directory.appendingPathComponent("rlm_driver.py"))
    }
}

/// The first line the driver reads on stdin.
struct Bootstrap: Encodable, Sendable {
    struct ContextFile: Encodable, Sendable {
        var path: String
        var format: String
    }
    var socket: String
    var token: String
    var context: ContextFile
    var maxOutputChars: Int
    var workdir: String
    var limits: Limits

    /// Resource caps the driver sets on itself (soft and hard) before it loads the context.
    struct Limits: Encodable, Sendable {
        var memoryBytes: Int
        var cpuSeconds: Int?
        var fileBytes: Int
        var processes: Int
        enum CodingKeys: String, CodingKey {
            case processes
            case memoryBytes = "memory_bytes"
            case cpuSeconds = "cpu_seconds"
            case fileBytes = "file_bytes"
        }
    }

    enum CodingKeys: String, CodingKey {
        case socket, token, context, workdir, limits
        case maxOutputChars = "max_output_chars"
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
