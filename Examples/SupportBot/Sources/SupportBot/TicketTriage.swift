import Foundation
import RLMKit

/// How many tickets carry each label.
public struct TriageReport: Equatable, Sendable {
    public var counts: [String: Int]
}

/// The RLM answered with something that is not a label count.
public struct UnreadableTriage: Error, CustomStringConvertible {
    public var answer: String
    public var description: String { "the model's answer is not a JSON object of label counts: \(answer.prefix(200))" }
}

/// Labels every support ticket as billing, bug or other, however many there are: the tickets go to the REPL as
/// `context`, and the root model's code sends each one to the sub model.
public struct TicketTriage: Sendable {
    public static let labels = ["billing", "bug", "other"]
    public let rlm: RLM

    public init(rlm: RLM) {
        self.rlm = rlm
    }

    /// A triage against a real OpenAI-compatible server (llama.cpp, Ollama, vLLM…).
    public init(baseURL: String, rootModel: String, subModel: String) {
        self.init(rlm: RLM(rootModel: OpenAICompatibleModel(name: rootModel, baseURL: baseURL),
                           subModel: OpenAICompatibleModel(name: subModel, baseURL: baseURL),
                           limits: RLMLimits(maxIterations: 12, maxConcurrency: 16)))
    }

    static let query = """
        `context` is a list of support tickets. Label each one as exactly one of \(labels.joined(separator: ", ")) \
        with the sub model, then submit a JSON object mapping each label to its number of tickets.
        """

    public func triage(_ tickets: [String]) async throws -> TriageReport {
        let result = try await rlm.complete(query: Self.query, context: .json(try JSONEncoder().encode(tickets)))
        guard result.status == .answered,
              let counts = try? JSONDecoder().decode([String: Int].self, from: Data(result.answer.utf8)) else {
            throw UnreadableTriage(answer: result.answer)
        }
        return TriageReport(counts: counts)
    }
}
