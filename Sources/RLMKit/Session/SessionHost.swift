import Foundation
import Synchronization

/// The REPL of a session with its context loaded, kept alive by a task of its own until the session closes.
/// Each question installs its top-level RLM in the ``QuestionRouter``, so sub-calls and tool calls the code
/// makes are counted and logged by the question that is running.
final class SessionHost: Sendable {
    let environment: RunEnvironment
    let repl: REPLSession
    let description: ContextDescription
    /// Seconds the driver took to load the context.
    let driverLoadSeconds: Double
    let router: QuestionRouter
    private let task: Task<Void, Never>

    private init(environment: RunEnvironment, repl: REPLSession, description: ContextDescription,
                 driverLoadSeconds: Double, router: QuestionRouter, task: Task<Void, Never>) {
        self.environment = environment
        self.repl = repl
        self.description = description
        self.driverLoadSeconds = driverLoadSeconds
        self.router = router
        self.task = task
    }

    /// Prepares the environment and starts the REPL; returns once the context is loaded.
    /// `origin` is `.pristine` for a REPL that forks sessions and runs no code.
    static func start(configuration: RLM, context: RLMContext,
                      origin: REPLSession.Origin = .spawned) async throws -> SessionHost {
        try RLMTool.validate(configuration.tools)
        let environment = try await RunEnvironment.prepare(for: configuration, context: context)
        return try await launch(configuration: configuration, environment: environment, origin: origin) {
            environment.remove()
        }
    }

    /// A session in a fork of `pristine`'s REPL: the context is loaded already, and the environment (sandbox,
    /// windows, context file) is the pristine's, which stays its owner. `whenGone` runs once the copy has stopped.
    static func fork(from pristine: SessionHost, configuration: RLM,
                     whenGone: @escaping @Sendable () -> Void) async throws -> SessionHost {
        do {
            try RLMTool.validate(configuration.tools)
        } catch {
            whenGone()
            throw error
        }
        return try await launch(configuration: configuration, environment: pristine.environment,
                                origin: .forked(from: pristine.repl), whenGone: whenGone)
    }

    /// Starts the REPL in a task of its own that keeps it until the session closes; `whenGone` runs once its
    /// processes have stopped.
    private static func launch(configuration: RLM, environment: RunEnvironment, origin: REPLSession.Origin,
                               whenGone: @escaping @Sendable () -> Void) async throws -> SessionHost {
        let router = QuestionRouter()
        let signatures = configuration.tools.map { REPLTools.Signature(name: $0.name, doc: $0.docstring) }
        let tools = REPLTools(signatures: signatures) { call in await router.callTool(call) }
        let (ready, announce) = AsyncStream.makeStream(of: Result<REPLSession, any Error>.self)
        let task = Task {
            do {
                try await REPLSession.withSession(configuration: environment.repl, interpreter: environment.python,
                                                  sandbox: environment.sandbox, context: environment.prepared,
                                                  subCalls: router.subCalls, tools: tools, origin: origin) { repl in
                    announce.yield(.success(repl))
                    // The REPL lives until this task is cancelled (close, or a cancelled question).
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
                }
            } catch {
                announce.yield(.failure(error))
            }
            announce.finish()
            whenGone()
        }
        for await result in ready {
            switch result {
            case .success(let repl):
                var description = await repl.contextDescription ?? ContextDescription(type: "unknown")
                let notes = (description.notes ?? []) + environment.prepared.notes
                description.notes = notes.isEmpty ? nil : notes
                return SessionHost(environment: environment, repl: repl, description: description,
                                   driverLoadSeconds: await repl.contextLoadSeconds, router: router, task: task)
            case .failure(let error):
                throw error
            }
        }
        // Cancelled while the REPL started.
        task.cancel()
        await task.value
        throw CancellationError()
    }

    /// Kills the REPL at once (from a cancellation handler); ``close()`` waits for it to be gone.
    func kill() {
        task.cancel()
    }

    /// Kills the REPL and waits until its processes and files are gone.
    func close() async {
        task.cancel()
        await task.value
    }
}

/// Routes the REPL's sub-calls and tool calls to the top-level RLM of the question that is running.
final class QuestionRouter: Sendable {
    private let current = Mutex<RLMNode?>(nil)

    func install(_ node: RLMNode?) {
        current.withLock { $0 = node }
    }

    var subCalls: SubCallHandler {
        { [self] request in
            guard let node = current.withLock({ $0 }) else {
                return Array(repeating: "Error: no question is running in this session", count: request.prompts.count)
            }
            return await node.makeSubCallHandler()(request)
        }
    }

    func callTool(_ call: REPLTools.Call) async -> Result<JSONValue, ToolFailure> {
        guard let node = current.withLock({ $0 }) else {
            return .failure(ToolFailure(message: "no question is running in this session"))
        }
        return await node.callTool(call)
    }
}
