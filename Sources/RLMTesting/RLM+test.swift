import Foundation
import RLMKit

/// How `RLM.test(_:_:)` reaches the RLM's models.
public enum RLMTestSetup: Sendable {
    /// The models answer in process: fastest, and enough for the app's own logic.
    case scripted
    /// The same models served over HTTP by a `ModelSimulator` on 127.0.0.1, reached through
    /// `OpenAICompatibleModel`: the real client, its streaming and its error handling run too.
    case wire
}

/// What a test body gets: the RLM to run, and in ``RLMTestSetup/wire`` the simulator serving its models.
public struct RLMTestClient: Sendable {
    /// The RLM under test; in ``RLMTestSetup/wire`` its models are HTTP clients of ``simulator``.
    public let rlm: RLM
    /// The server in ``RLMTestSetup/wire`` (its request log and counters); nil in ``RLMTestSetup/scripted``.
    public let simulator: ModelSimulator?

    /// Runs the RLM: see `RLM.complete(query:context:onEvent:)`.
    public func complete(query: String, context: RLMContext,
                         onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        try await rlm.complete(query: query, context: context, onEvent: onEvent)
    }
}

extension RLM {
    /// Runs `body` against this RLM, its models reached as `setup` says; everything started is stopped afterwards.
    ///
    /// ```swift
    /// let rlm = RLM(rootModel: ScriptedModel(replies: [repl("FINAL(llm_query('hi'))")]),
    ///               subModel: FunctionModel { _ in "hello" })
    /// try await rlm.test(.wire) { client in
    ///     let result = try await client.complete(query: "Greet", context: .text(""))
    ///     #expect(result.answer == "hello")
    /// }
    /// ```
    ///
    /// In ``RLMTestSetup/wire`` one simulator serves every model by name (the root, the sub model and the names
    /// in `allowedModels`), without retries, so a model that throws fails its request at once with HTTP 500.
    public func test<Result: Sendable>(_ setup: RLMTestSetup,
                                       _ body: (RLMTestClient) async throws -> Result) async throws -> Result {
        guard setup == .wire else { return try await body(RLMTestClient(rlm: self, simulator: nil)) }
        let root = rootModel
        let sub = subModel ?? rootModel
        let names = [root.name, sub.name] + allowedModels
        let simulator = try await ModelSimulator.start(models: names.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }) { request in
            let model = request.model == root.name ? root : request.model == sub.name ? sub : sub.withModelName(request.model)
            return await Self.reply(of: model, to: request)
        }
        var wired = self
        wired.rootModel = OpenAICompatibleModel(name: root.name, baseURL: simulator.baseURL, retry: .none)
        wired.subModel = subModel.map { OpenAICompatibleModel(name: $0.name, baseURL: simulator.baseURL, retry: .none) as any LanguageModel }
        do {
            let result = try await body(RLMTestClient(rlm: wired, simulator: simulator))
            await simulator.shutdown()
            return result
        } catch {
            await simulator.shutdown()
            throw error
        }
    }

    /// `model`'s answer to a request that came over the wire, as the simulator sends it.
    private static func reply(of model: any LanguageModel, to request: SimulatedRequest) async -> SimulatedReply {
        let messages = request.messages.map { ChatMessage(role: ChatMessage.Role(rawValue: $0.role) ?? .user, content: $0.content) }
        do {
            let response = try await model.complete(ModelRequest(messages: messages))
            return SimulatedReply(text: response.text, finishReason: response.finishReason.label,
                                  promptTokens: response.usage.inputTokens, completionTokens: response.usage.outputTokens)
        } catch {
            return .failure(status: 500, message: String(describing: error))
        }
    }
}
