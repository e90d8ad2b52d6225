import Foundation
import MCP
import RLMKit
import Synchronization

/// `rlm mcp`: a Model Context Protocol server with one tool, `rlm_ask`, so a coding agent can hand a whole
/// repository, a huge log or many files to an RLM and get the answer back instead of reading them itself.
///
/// Each call runs one RLM with the server's models and limits, sends `notifications/progress` while it runs
/// (when the call carries a progress token), and answers with the answer, the usage, the cost and the limits.
/// A call the client cancels stops its run: no more model calls, and its REPL process is killed. So does the
/// end of the client's input.
public actor RLMMCPServer {
    /// What the server needs from its host (the `rlm` command).
    public struct Configuration: Sendable {
        /// Which files a call may read.
        public var confinement: PathConfinement
        /// The RLM for one call (models, limits, sandbox, a fresh trajectory log); a thrown error is told to the
        /// client as the call's failure.
        public var makeRLM: @Sendable () async throws -> RLM
        /// Where the server's own messages go: never stdout, which carries the protocol.
        public var log: @Sendable (String) -> Void

        public init(confinement: PathConfinement, makeRLM: @escaping @Sendable () async throws -> RLM,
                    log: @escaping @Sendable (String) -> Void) {
            self.confinement = confinement
            self.makeRLM = makeRLM
            self.log = log
        }
    }

    private let configuration: Configuration
    private let server: Server
    private var runs: [UUID: Task<RLMResult, any Error>] = [:]
    /// Set once the client's input has closed: no new run starts.
    private var stopping = false

    public init(configuration: Configuration) {
        self.configuration = configuration
        server = Server(
            name: "rlm", version: RLMKitVersion.string, title: "Recursive Language Model",
            instructions: """
                Use rlm_ask to answer questions about inputs too large to read yourself (a whole repository, \
                big logs, many files): pass the question and the paths; the answer comes back with its cost.
                """,
            capabilities: .init(tools: .init(listChanged: false)))
    }

    /// Serves over `transport` until the client closes it, then cancels every run still going and waits for
    /// them to stop.
    public func serve(transport: any Transport) async throws {
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: [AskTool.definition])
        }
        await server.withMethodHandler(CallTool.self) { [self] parameters in
            guard parameters.name == AskTool.name else {
                throw MCPError.invalidParams("unknown tool \(parameters.name); this server offers \(AskTool.name).")
            }
            return try await self.ask(parameters)
        }
        let draining = DrainingTransport(transport)
        try await server.start(transport: draining)
        configuration.log("rlm mcp: serving \(AskTool.name) on stdio; paths may be read under \(configuration.confinement.roots.joined(separator: ", "))")
        await server.waitUntilCompleted()
        configuration.log("rlm mcp: the client closed the connection; stopping")
        stopping = true
        await cancelRuns()
        // Every request received gets its answer (a cancelled run answers with its partial result).
        await draining.drained()
        await server.stop()
    }

    /// Cancels every run and waits until each has stopped (its REPL process killed).
    private func cancelRuns() async {
        let running = Array(runs.values)
        for run in running { run.cancel() }
        for run in running { _ = await run.result }
    }

    // MARK: - One call

    private func ask(_ parameters: CallTool.Parameters) async throws -> CallTool.Result {
        let arguments: AskTool.Arguments
        let rlm: RLM
        var inputNotes: [String] = []
        let context: RLMContext
        let schema: AnswerSchema?
        do {
            arguments = try AskTool.arguments(from: parameters.arguments)
            schema = try arguments.answerSchema()
            switch arguments.input {
            case .text(let text):
                context = .text(text)
            case .paths(let paths):
                (context, inputNotes) = try configuration.confinement.context(for: paths)
            }
            rlm = try await configuration.makeRLM()
            guard !stopping else {
                throw ToolFailure("the server is stopping: the client closed its input.", fix: "Start `rlm mcp` again and repeat the call.")
            }
        } catch {
            configuration.log("rlm mcp: \(AskTool.name) refused: \(AskOutcome.describe(error))")
            return AskOutcome.failure(error, rlm: nil, notes: [])
        }

        let progress = AskProgress(maxTurns: rlm.limits.maxIterations)
        let (snapshots, continuation) = AsyncStream.makeStream(of: AskProgress.Snapshot.self, bufferingPolicy: .bufferingNewest(1))
        let reporter = Task { [server] in
            guard let token = parameters._meta?.progressToken else { return }
            for await snapshot in snapshots {
                try? await server.notify(ProgressNotification.message(
                    .init(progressToken: token, progress: Double(snapshot.step), message: snapshot.message)))
            }
        }
        let log = configuration.log
        let query = arguments.query
        let route = rlm.route
        configuration.log("rlm mcp: \(AskTool.name) started: \(query.prefix(80))")
        let run = Task {
            try await rlm.complete(query: query, context: context, schema: schema) { event in
                if event.event == .sandbox, case .array(let warnings)? = event.details?["warnings"] {
                    for case .string(let warning) in warnings { log("rlm mcp: \(warning)") }
                }
                if route != .rlm, event.event == .runStarted, case .string(let reason)? = event.details?["route_reason"] {
                    log("rlm mcp: \(reason)")
                }
                if let snapshot = progress.record(event) { continuation.yield(snapshot) }
            }
        }
        let id = UUID()
        runs[id] = run
        let outcome = await withTaskCancellationHandler { await run.result } onCancel: { run.cancel() }
        runs[id] = nil
        continuation.finish()
        // Every progress notification goes out before the result.
        await reporter.value

        if Task.isCancelled {
            // The client cancelled the call: MCP wants no response to it.
            configuration.log("rlm mcp: \(AskTool.name) cancelled by the client")
            throw CancellationError()
        }
        let notes = inputNotes + progress.notes
        switch outcome {
        case .success(let result):
            configuration.log("rlm mcp: \(AskTool.name) finished: \(result.status.rawValue) on the \(result.route?.rawValue ?? "rlm") route after \(result.iterations) turn(s)")
            return AskOutcome.result(result, rlm: rlm, notes: notes)
        case .failure(let error):
            configuration.log("rlm mcp: \(AskTool.name) failed: \(AskOutcome.describe(error))")
            return AskOutcome.failure(error, rlm: rlm, notes: notes)
        }
    }
}
