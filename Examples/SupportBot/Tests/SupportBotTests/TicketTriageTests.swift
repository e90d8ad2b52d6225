import RLMKit
import RLMTesting
import SupportBot
import Testing

/// The app's triage logic, tested with a scripted root model, a function for the sub model and a real REPL.
@Suite struct TicketTriageTests {
    static let tickets = ["I want a refund for last month", "The app crashes on start", "refund, charged twice",
                          "How do I change my avatar?"]

    /// What a good root model writes: label every ticket in one batch, count, submit JSON.
    static func rootModel() -> ScriptedModel {
        ScriptedModel(replies: [repl("""
        import json
        labels = llm_query_batched(['Label as billing, bug or other: ' + t for t in context])
        counts = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        FINAL(json.dumps(counts))
        """)])
    }

    /// A sub model that labels by keyword.
    static func labeller() -> FunctionModel {
        FunctionModel { prompt in prompt.contains("refund") ? "billing" : prompt.contains("crash") ? "bug" : "other" }
    }

    @Test(arguments: [RLMTestSetup.scripted, .wire])
    func countsTheLabelsTheSubModelGives(setup: RLMTestSetup) async throws {
        let sub = Self.labeller()
        let rlm = RLM(rootModel: Self.rootModel(), subModel: sub, repl: .testing)
        let report = try await rlm.test(setup) { client in try await TicketTriage(rlm: client.rlm).triage(Self.tickets) }
        #expect(report.counts == ["billing": 2, "bug": 1, "other": 1])
        #expect(sub.calls == Self.tickets.count)
    }

    @Test func anAnswerThatIsNotACountIsAnError() async throws {
        let root = ScriptedModel(replies: [repl("FINAL('I could not decide')")])
        let triage = TicketTriage(rlm: RLM(rootModel: root, subModel: Self.labeller(), repl: .testing))
        await #expect(throws: UnreadableTriage.self) { try await triage.triage(Self.tickets) }
    }

    @Test func theQueryNamesEveryLabel() async throws {
        let root = ScriptedModel(replies: [repl("FINAL('{}')")])
        _ = try await TicketTriage(rlm: RLM(rootModel: root, repl: .testing)).triage(["one"])
        let firstRequest = try #require(root.requests.first)
        let said = firstRequest.messages.map(\.content).joined()
        #expect(TicketTriage.labels.allSatisfy { said.contains($0) })
    }
}
