import Foundation
import Synchronization
import Testing
@testable import RLMKit
import RLMTesting

/// Runs with an answer schema against a scripted root model and the real Python REPL.
@Suite(.serialized, .timeLimit(.minutes(2))) struct TypedAnswerTests {
    /// `{"total": integer, "top_user": string}`, both required, nothing else.
    static let totals = try! AnswerSchema(json: Data("""
        {"type": "object", "properties": {"total": {"type": "integer"}, "top_user": {"type": "string"}},
         "required": ["total", "top_user"], "additionalProperties": false}
        """.utf8))

    func makeRLM(_ root: ScriptedModel, maxIterations: Int = 5) -> RLM {
        RLM(rootModel: root, limits: RLMLimits(maxIterations: maxIterations),
            repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)))
    }

    @Test func aMissingRequiredKeyIsRefusedWithItsPathAndTheSecondSubmissionFits() async throws {
        let root = ScriptedModel(replies: [
            repl(#"FINAL({"total": 12})"#),
            repl(#"FINAL({"total": 12, "top_user": "ann"})"#),
        ])
        let result = try await makeRLM(root).complete(query: "totals?", context: .text("c"), schema: Self.totals)
        let events = result.trajectory
        #expect(result.status == .answered)
        #expect(result.answerJSON == .object(["total": .number(12), "top_user": .string("ann")]))
        #expect(try AnswerSchema.decode(Data(result.answer.utf8)) == result.answerJSON)
        #expect(result.iterations == 2)
        // The model was told, with the path, in the message after its first reply.
        let second = root.requests[1].messages.last?.content ?? ""
        #expect(second.contains("refused"))
        #expect(second.contains(#"$: missing required key "top_user""#))
        // The trajectory shows the exchange: a refused submission with its errors, then the answer.
        let kinds = events.map(\.event)
        let refused = events.first { $0.event == .answerRefused }
        #expect(refused?.text == #"{"total": 12}"#)
        #expect(refused?.details?["errors"] == .array([.string(#"$: missing required key "top_user""#)]))
        #expect(refused?.details?["attempt"] == .number(1))
        let refusedAt = try #require(kinds.firstIndex(of: .answerRefused))
        let finalAt = try #require(kinds.firstIndex(of: .finalAnswer))
        #expect(refusedAt < finalAt)
        // The system prompt shows the schema and says to submit a dict.
        let system = root.requests[0].messages[0].content
        #expect(system.contains(Prompts.answerSchemaHeading))
        #expect(system.contains(#""top_user""#))
        #expect(system.contains("check_answer(value)"))
    }

    @Test func threeMisfitsStopTheRunOnTheSchemaKeepingTheLastSubmission() async throws {
        let root = ScriptedModel(replies: [
            repl(#"FINAL({"total": "12"})"#),
            repl(#"FINAL({"total": 12.5, "top_user": "ann"})"#),
            repl(#"answer["content"] = {"total": 12, "top_user": "ann", "extra": 1}; answer["ready"] = True"#),
            repl(#"FINAL({"total": 12, "top_user": "ann"})"#),
        ])
        let result = try await makeRLM(root).complete(query: "totals?", context: .text("c"), schema: Self.totals)
        let events = result.trajectory
        #expect(result.status == .partial)
        #expect(result.stopReason == "schema")
        #expect(result.iterations == 3)
        #expect(root.requests.count == 3)
        #expect(result.answerSource == "answer")
        #expect(result.answerJSON == .object(["total": .number(12), "top_user": .string("ann"), "extra": .number(1)]))
        #expect(result.schemaViolations?.count == 1)
        #expect(result.schemaViolations?.first?.description.contains("extra") == true)
        #expect(events.filter { $0.event == .answerRefused }.count == 3)
        let finished = events.last { $0.event == .runFinished }
        #expect(finished?.status == "partial")
        #expect(finished?.error == "schema")
        // The JSON result carries the value as JSON and the problems.
        let encoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(result))
        guard case .object(let fields) = encoded else { Issue.record("not an object"); return }
        #expect(fields["answer_json"] == result.answerJSON)
        #expect(fields["stop_reason"] == .string("schema"))
    }

    struct Totals: Decodable, Sendable, Equatable {
        var total: Int
        var topUser: String
        enum CodingKeys: String, CodingKey { case total; case topUser = "top_user" }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            total = try container.decode(Int.self, forKey: .total)
            topUser = try container.decode(String.self, forKey: .topUser)
            guard !topUser.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .topUser, in: container, debugDescription: "top_user must not be empty")
            }
        }
    }

    @Test func theDecodableFormFeedsDecodingErrorsBackAndReturnsTheValue() async throws {
        // The schema allows an empty name; the type does not: the decoding error goes back like a schema error.
        let root = ScriptedModel(replies: [
            repl(#"FINAL({"total": 3, "top_user": ""})"#),
            repl(#"FINAL({"total": 3, "top_user": "bob"})"#),
        ])
        let typed = try await makeRLM(root).complete(query: "totals?", context: .text("c"), schema: Self.totals,
                                                     as: Totals.self)
        #expect(typed.value.total == 3)
        #expect(typed.value.topUser == "bob")
        let told = root.requests[1].messages.last?.content ?? ""
        #expect(told.contains("$.top_user: top_user must not be empty"))
        #expect(typed.result.trajectory.contains { $0.event == .answerRefused })
    }

    @Test func theDecodableFormThrowsWithTheResultWhenNothingFits() async throws {
        let root = ScriptedModel(replies: Array(repeating: repl(#"FINAL({"total": 3})"#), count: 2))
        var rlm = makeRLM(root)
        rlm.maxSchemaAttempts = 2
        await #expect {
            _ = try await rlm.complete(query: "q", context: .text("c"), schema: Self.totals, as: Totals.self)
        } throws: { error in
            guard let failure = error as? RLMTypedAnswerError else { return false }
            return failure.result.stopReason == "schema" && failure.description.contains("top_user")
        }
    }

    @Test func checkAnswerInTheREPLListsTheProblemsFromTheHostValidator() async throws {
        let code = """
        bad = check_answer({"total": "x"})
        good = check_answer({"total": 1, "top_user": "a"})
        print(sorted(answer_schema["required"]))
        print(bad)
        print(good)
        try:
            check_answer({1, 2})
        except TypeError as problem:
            print("TypeError:", str(problem)[:40])
        """
        let root = ScriptedModel(replies: [repl(code), repl(#"FINAL({"total": 1, "top_user": "a"})"#)])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"), schema: Self.totals)
        #expect(result.status == .answered)
        let shown = root.requests[1].messages.last?.content ?? ""
        #expect(shown.contains("['top_user', 'total']"))
        #expect(shown.contains(#"$.total: expected integer, got string "x""#))
        #expect(shown.contains(#"missing required key "top_user""#))
        #expect(shown.contains("\n[]\n"))
        #expect(shown.contains("TypeError: check_answer: this run's answer must"))
    }

    @Test func aValueJSONCannotCarryIsNotSubmitted() async throws {
        let root = ScriptedModel(replies: [repl("FINAL({'total': {1, 2}})"), repl(#"FINAL({"total": 2, "top_user": "a"})"#)])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"), schema: Self.totals)
        #expect(result.status == .answered)
        #expect(result.trajectory.filter { $0.event == .answerRefused }.isEmpty)
        #expect(root.requests[1].messages.last?.content.contains("must be JSON data") == true)
    }

    @Test func withoutASchemaTheREPLSubmitsStrText() async throws {
        let root = ScriptedModel(replies: [repl("print(answer_schema)\nFINAL({'n': 1})")])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "{'n': 1}")
        #expect(result.answerJSON == nil)
        #expect(!(root.requests[0].messages[0].content.contains(Prompts.answerSchemaHeading)))
    }

    @Test func aSessionTakesASchemaPerQuestion() async throws {
        let root = ScriptedModel(replies: [
            repl(#"FINAL({"total": 5, "top_user": "cy"})"#),
            repl("FINAL({'n': 1})"),
        ])
        let session = try await RLMSession(rlm: makeRLM(root), context: .text("c"))
        let typed = try await session.ask("totals?", schema: Self.totals)
        #expect(typed.answerJSON == .object(["total": .number(5), "top_user": .string("cy")]))
        let plain = try await session.ask("and as text?")
        #expect(plain.answer == "{'n': 1}")
        #expect(plain.answerJSON == nil)
        #expect(root.requests[1].messages.last?.content.contains("no answer schema") == true)
        await session.close()
    }

    struct Payments: Decodable, Sendable {
        var total: Int
        var topUser: String
        var byUser: [String: Int]
        enum CodingKeys: String, CodingKey { case total, topUser = "top_user", byUser = "by_user" }
    }

    @Test func twoHundredRecordsAnsweredAsATypedValue() async throws {
        let users = ["ann", "bob", "cy", "dee", "eve"]
        var lines: [String] = []
        var byUser: [String: Int] = [:]
        for index in 0..<200 {
            let user = users[(index * 7 + index / 3) % users.count]
            let amount = (index * 37) % 101 + 1
            byUser[user, default: 0] += amount
            lines.append(#"{"user": "\#(user)", "amount": \#(amount)}"#)
        }
        let schema = try AnswerSchema(json: Data("""
            {"type": "object", "properties": {"total": {"type": "integer"}, "top_user": {"type": "string"},
             "by_user": {"type": "object", "additionalProperties": {"type": "integer"}}},
             "required": ["total", "top_user", "by_user"], "additionalProperties": false}
            """.utf8))
        let root = ScriptedModel(replies: [
            repl("""
            import json
            rows = [json.loads(line) for line in context.splitlines() if line.strip()]
            by_user = {}
            for row in rows:
                by_user[row["user"]] = by_user.get(row["user"], 0) + row["amount"]
            FINAL({"total": sum(by_user.values()), "by_user": by_user})
            """),
            repl("""
            result = {"total": sum(by_user.values()), "by_user": by_user, "top_user": max(sorted(by_user), key=by_user.get)}
            print(check_answer(result))
            FINAL(result)
            """),
        ])
        let typed = try await makeRLM(root).complete(query: "Total amount, the top user, and the amount per user?",
                                                     context: .text(lines.joined(separator: "\n")), schema: schema,
                                                     as: Payments.self)
        #expect(typed.value.total == byUser.values.reduce(0, +))
        #expect(typed.value.byUser == byUser)
        #expect(typed.value.topUser == byUser.max { $0.value < $1.value }!.key)
        let refused = typed.result.trajectory.first { $0.event == .answerRefused }
        print("typed-demo library: refused \(refused?.text ?? "-") with \(refused?.details?["errors"]?.promptText ?? "-")")
        print("typed-demo library: answer \(typed.result.answer)")
        print("typed-demo library: value \(typed.value)")
    }
}
