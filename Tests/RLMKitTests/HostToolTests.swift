import Foundation
import Synchronization
import Testing
@testable import RLMKit
import RLMTesting

/// Host tools against a scripted root model and the real Python REPL.
@Suite(.serialized) struct HostToolTests {
    struct LookupFailed: Error, CustomStringConvertible {
        var description: String { "no row with that id" }
    }

    /// A tool that looks rows up in the host's own table, and fails for an unknown id.
    static let lookup = RLMTool(name: "lookup", description: "Returns the row with the given id.",
                                parameters: .object(["type": .string("object"),
                                                     "properties": .object(["id": .object(["type": .string("integer")])])])) { arguments in
        guard case .object(let fields) = arguments, case .number(let id)? = fields["id"] else {
            throw LookupFailed()
        }
        guard id == 7 else { throw LookupFailed() }
        return .object(["id": .number(7), "name": .string("seven"), "tags": .array([.string("a"), .string("b")])])
    }

    func makeRLM(_ root: ScriptedModel, tools: [RLMTool], budget: RLMBudget = .init(), depth: Int = 1) -> RLM {
        RLM(rootModel: root, limits: RLMLimits(maxIterations: 3, maxDepth: depth),
            repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)), budget: budget, tools: tools)
    }

    @Test func theCodeCallsAToolAndGetsJSONBack() async throws {
        let code = """
        row = lookup(id=7)
        FINAL(f"{row['name']} {row['tags']} {type(row).__name__}")
        """
        let root = ScriptedModel(replies: [repl(code)])
        let seen = Mutex<[RLMEvent]>([])
        let result = try await makeRLM(root, tools: [Self.lookup]).complete(query: "q", context: .text("c")) { event in
            seen.withLock { $0.append(event) }
        }
        #expect(result.answer == "seven ['a', 'b'] dict")
        #expect(result.subCalls == 1)
        let events = seen.withLock { $0 }
        let started = events.first { $0.event == .toolCallStarted }
        let finished = events.first { $0.event == .toolCallFinished }
        #expect(started?.tool == "lookup")
        #expect(started?.text == #"{"id":7}"#)
        #expect(finished?.text?.contains("seven") == true)
        #expect(finished?.error == nil)
        // The tool is listed in the system prompt, with its description and schema.
        let system = root.requests.first?.messages.first?.content ?? ""
        #expect(system.contains("## Host tools"))
        #expect(system.contains("`lookup(...)` — Returns the row with the given id."))
        #expect(system.contains(#""integer""#))
    }

    @Test func aToolErrorIsAPythonExceptionWithTheMessage() async throws {
        let code = """
        try:
            lookup(id=8)
        except HostToolError as problem:
            FINAL("caught: " + str(problem))
        """
        let root = ScriptedModel(replies: [repl(code)])
        let seen = Mutex<[RLMEvent]>([])
        let result = try await makeRLM(root, tools: [Self.lookup]).complete(query: "q", context: .text("c")) { event in
            seen.withLock { $0.append(event) }
        }
        #expect(result.answer == "caught: lookup: no row with that id")
        let finished = seen.withLock { $0 }.first { $0.event == .toolCallFinished }
        #expect(finished?.error == "no row with that id")
    }

    @Test func anUncaughtToolErrorShowsAsATraceback() async throws {
        let root = ScriptedModel(replies: [repl("lookup(id=9)"), repl("FINAL('seen')")])
        let result = try await makeRLM(root, tools: [Self.lookup]).complete(query: "q", context: .text("c"))
        #expect(result.answer == "seen")
        let feedback = root.requests[1].messages.last?.content ?? ""
        #expect(feedback.contains("HostToolError") && feedback.contains("no row with that id"))
    }

    @Test func toolCallsCountInTheSubCallBudget() async throws {
        let code = """
        results = []
        for _ in range(3):
            try:
                results.append(lookup(id=7)['name'])
            except HostToolError as problem:
                results.append(str(problem))
        FINAL(" | ".join(results))
        """
        let root = ScriptedModel(replies: [repl(code)])
        let result = try await makeRLM(root, tools: [Self.lookup], budget: RLMBudget(maxSubCalls: 2))
            .complete(query: "q", context: .text("c"))
        let parts = result.answer.components(separatedBy: " | ")
        #expect(parts.count == 3)
        #expect(parts[0] == "seven" && parts[1] == "seven")
        #expect(parts[2].contains("max-subcalls"))
        #expect(result.subCalls == 2)
    }

    @Test func positionalArgumentsAndNonJSONArguments() async throws {
        let echo = RLMTool(name: "echo", description: "Returns its arguments.") { $0 }
        let code = """
        a = echo("text")
        b = echo(1, 2)
        try:
            echo(object())
            c = "sent"
        except TypeError as problem:
            c = "TypeError"
        FINAL(f"{a}|{b}|{c}|{echo()}")
        """
        let root = ScriptedModel(replies: [repl(code)])
        let result = try await makeRLM(root, tools: [echo]).complete(query: "q", context: .text("c"))
        #expect(result.answer == "text|[1, 2]|TypeError|{}")
    }

    @Test func toolsAreOfferedInsideASessionToo() async throws {
        let root = ScriptedModel(replies: [repl("FINAL(lookup(id=7)['name'])")])
        let session = try await RLMSession(rlm: makeRLM(root, tools: [Self.lookup]), context: .text("c"))
        let result = try await session.ask("q")
        #expect(result.answer == "seven")
        #expect(result.subCalls == 1)
        await session.close()
    }

    @Test func badToolNamesAreRefusedWithTheFix() async throws {
        let root = ScriptedModel(replies: [repl("FINAL('x')")])
        for name in ["2fast", "context", "class", "has space"] {
            let tool = RLMTool(name: name, description: "d") { $0 }
            await #expect(throws: RLMToolError.self) {
                _ = try await makeRLM(root, tools: [tool]).complete(query: "q", context: .text("c"))
            }
        }
        let twice = [RLMTool(name: "same", description: "d") { $0 }, RLMTool(name: "same", description: "e") { $0 }]
        await #expect(throws: RLMToolError.self) {
            _ = try await RLMSession(rlm: makeRLM(root, tools: twice), context: .text("c"))
        }
    }
}
