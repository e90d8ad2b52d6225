import Foundation
import NIOCore

/// The protocol channel to the driver: one connection per incarnation, messages in both directions as JSON
/// lines, and the sub-calls the code asks for, each tracked so that it can be cancelled.
extension REPLSession {
    nonisolated func serve(listener: DriverListener, token: String) async -> IncarnationEvent {
        // Exactly one peer, the driver we started: the listener refuses any other.
        guard let connection = await listener.accept() else { return .channelClosed }
        if case .forked = origin {
            // A forked copy is not this process's child: its process id comes from the socket.
            guard let pid = listener.peerProcessID else {
                return .protocolViolation("a forked copy whose process id the socket does not give")
            }
            await adoptProcess(pid: pid)
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                // One writer drains the queue, so messages leave in the order they were sent.
                let (queue, queued) = AsyncStream.makeStream(of: ByteBuffer.self)
                await self.attach(connection: connection.channel, outgoing: queued)
                try await withThrowingDiscardingTaskGroup { writer in
                    writer.addTask {
                        for await buffer in queue { try await outbound.write(buffer) }
                    }
                    defer { queued.finish() }
                    var assembler = DriverMessageAssembler()
                    for try await line in inbound {
                        guard let (message, bytes) = try assembler.message(from: line) else { continue }
                        if let problem = await self.handle(message, bytes: bytes, token: token, from: connection.channel) {
                            throw DriverProtocolViolation(reason: problem)
                        }
                    }
                }
            }
        } catch let violation as DriverProtocolViolation {
            return .protocolViolation(violation.reason)
        } catch {}
        return .channelClosed
    }

    private func attach(connection: any Channel, outgoing: AsyncStream<ByteBuffer>.Continuation) {
        self.connection = connection
        self.outgoing = outgoing
        if machine.isStopping { connection.close(promise: nil) }
    }

    /// `channel` is the connection the message came on: requests still buffered from an interpreter that has
    /// died are dropped, since its sub-calls were cancelled with it and nobody waits for their answers.
    /// Returns how the message breaks the protocol, if it does: its peer is then killed as hostile.
    func handle(_ message: DriverMessage, bytes: Int = 0, token: String, from channel: any Channel) -> String? {
        if let kilobytes = message.peakRSSKilobytes { peakRSSBytes = max(peakRSSBytes, kilobytes * 1024) }
        let fromCurrentIncarnation = connection.map { $0 === channel } ?? false
        switch message.type {
        case "llm_request", "tool_call":
            guard fromCurrentIncarnation else { return nil }
            if let flood = admitRequest(bytes: bytes) { return flood }
            if message.type == "llm_request" { startSubCall(message, bytes: bytes) } else { startToolCall(message, bytes: bytes) }
        case "cancel":
            cancelSubCalls(message.ids ?? [])
        case "ready":
            guard message.token == token else { return nil }
            if contextDescription == nil {
                contextDescription = message.description
                contextLoadSeconds = message.loadSeconds ?? 0
            }
            if case .resumeReadyWaiters = machine.driverReady() { resumeReadyWaiters() }
        case "fatal":
            guard message.token == token else { return nil }
            let failure = machine.startFailed(.contextUnloadable(message.message ?? "unknown reason"))
            finishPendingCell(failure.cell, deathReason: failure.error.description, restarted: false)
            resumeReadyWaiters(throwing: failure.error)
        case "exec_result" where message.id.map { pendingForks[$0] != nil } ?? false:
            guard fromCurrentIncarnation, let id = message.id else { return nil }
            let failed = message.error ?? false
            pendingForks.removeValue(forKey: id)?.resume(returning: failed ? OutputTruncation.join(message.stderr
                ?? CapturedText(head: "no reason given", tail: "", total: 15)) : nil)
        case "exec_result":
            guard let id = message.id, let pending = pendingCell, pending.id == id, machine.cellFinished(id) else { return nil }
            pendingCell = nil
            let stdout = message.stdout ?? CapturedText(head: "", tail: "", total: 0)
            let stderr = message.stderr ?? CapturedText(head: "", tail: "", total: 0)
            pending.continuation.resume(returning: CellOutcome(
                stdout: OutputTruncation.join(stdout), stderr: OutputTruncation.join(stderr),
                stdoutTotal: stdout.total, stderrTotal: stderr.total,
                failed: message.error ?? false, errorType: message.errorType, timedOut: message.interrupted ?? false,
                interpreterRestarted: false, deathReason: nil,
                final: message.final, finalSource: message.finalSource,
                restoredNames: message.restored ?? [], seconds: message.seconds ?? 0))
        default:
            return "a message of unknown type \(OutputTruncation.clip(message.type, limit: 40))"
        }
        return nil
    }

    /// Bytes of the requests in flight.
    private var outstandingRequestBytes: Int { subCallTasks.values.reduce(0) { $0 + $1.bytes } }

    /// A flood: more requests, or more bytes of them, waiting at once than any code needs.
    private func admitRequest(bytes: Int) -> String? {
        if subCallTasks.count >= DriverChannelLimits.maxOutstandingRequests {
            return "a flood of more than \(DriverChannelLimits.maxOutstandingRequests) sub-call requests at once"
        }
        if outstandingRequestBytes + bytes > DriverChannelLimits.maxOutstandingRequestBytes {
            return "a flood of sub-call requests holding more than \(DriverChannelLimits.maxOutstandingRequestBytes >> 20) MiB at once"
        }
        return nil
    }

    // MARK: Sub-calls

    /// Runs the sub-calls of one request as a task of its own, unless its cell is gone or was interrupted.
    private func startSubCall(_ message: DriverMessage, bytes: Int) {
        guard let id = message.id, let prompts = message.prompts else { return }
        if let cell = message.cell, cell == machine.refusedCell || machine.currentCell != cell {
            let reason = "Error: cancelled: the cell that made this sub-call is no longer running"
            send(.llmResult(id: id, results: Array(repeating: reason, count: prompts.count)))
            return
        }
        let request = SubCallRequest(kind: SubCallRequest.Kind(rawValue: message.kind ?? "llm") ?? .llm,
                                     prompts: prompts, contexts: message.contexts, model: message.model)
        let handler = subCalls
        cellClock.subCallStarted(at: .now)
        subCallTasks[id] = (Task {
            let results = await handler(request)
            self.finishSubCall(id: id, prompts: prompts.count, results: results)
        }, bytes)
    }

    /// Runs one host tool call as a task of its own, tracked and cancelled like a sub-call.
    private func startToolCall(_ message: DriverMessage, bytes: Int) {
        guard let id = message.id else { return }
        guard let name = message.name else {
            send(.toolError(id: id, message: "a tool call without a tool name"))
            return
        }
        if let cell = message.cell, cell == machine.refusedCell || machine.currentCell != cell {
            send(.toolError(id: id, message: "cancelled: the cell that made this tool call is no longer running"))
            return
        }
        let handler = tools.handler
        let call = REPLTools.Call(name: name, arguments: message.arguments ?? .null)
        cellClock.subCallStarted(at: .now)
        subCallTasks[id] = (Task {
            let result = await handler(call)
            self.finishToolCall(id: id, result: result)
        }, bytes)
    }

    private func finishToolCall(id: Int, result: Result<JSONValue, ToolFailure>) {
        guard subCallTasks.removeValue(forKey: id) != nil else { return }
        cellClock.subCallEnded(at: .now)
        switch result {
        case .success(let value): send(.toolResult(id: id, result: value))
        case .failure(let failure): send(.toolError(id: id, message: failure.message))
        }
    }

    private func finishSubCall(id: Int, prompts: Int, results: [String]) {
        // Gone already: cancelled, and the driver has failed the call itself.
        guard subCallTasks.removeValue(forKey: id) != nil else { return }
        cellClock.subCallEnded(at: .now)
        var results = results
        if results.count != prompts {
            results = Array(repeating: "Error: the host returned \(results.count) results for \(prompts) prompts", count: prompts)
        }
        send(.llmResult(id: id, results: results))
    }

    /// Cancels sub-calls in flight (all of them, or those with the given ids): their model requests stop and
    /// their concurrency slots are freed at once.
    func cancelSubCalls(_ ids: [Int]? = nil) {
        let chosen = ids ?? Array(subCallTasks.keys)
        for id in chosen {
            guard let request = subCallTasks.removeValue(forKey: id) else { continue }
            request.task.cancel()
            cellClock.subCallEnded(at: .now)
        }
    }
}

/// A cell's own running time: wall time minus the time it spent waiting on at least one sub-call.
struct CellClock: Sendable {
    var started: ContinuousClock.Instant = .now
    private var paused: Duration = .zero
    private var pausedSince: ContinuousClock.Instant?
    private var outstanding = 0

    init(started: ContinuousClock.Instant = .now) {
        self.started = started
    }

    mutating func subCallStarted(at now: ContinuousClock.Instant) {
        if outstanding == 0 { pausedSince = now }
        outstanding += 1
    }

    mutating func subCallEnded(at now: ContinuousClock.Instant) {
        guard outstanding > 0 else { return }
        outstanding -= 1
        if outstanding == 0, let since = pausedSince {
            paused += now - since
            pausedSince = nil
        }
    }

    func activeTime(at now: ContinuousClock.Instant) -> Duration {
        let waiting = paused + (pausedSince.map { now - $0 } ?? .zero)
        return (now - started) - waiting
    }
}
