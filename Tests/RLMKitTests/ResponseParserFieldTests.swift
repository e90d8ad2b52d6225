import Testing
@testable import RLMKit

/// Replies as real models write them: code in list items, fences inside strings, reasoning in `content`,
/// and replies with very many blocks.
@Suite struct ResponseParserFieldTests {
    @Test func fencedBlockInsideAListItemIsDedented() {
        let text = """
        Plan:
        1. Count the lines:
           ```repl
           lines = context.split("\\n")
           if lines:
               print(len(lines))
           ```
        2. Then look closer.
        """
        let parsed = ResponseParser.parse(text)
        #expect(parsed.codeBlocks == ["lines = context.split(\"\\n\")\nif lines:\n    print(len(lines))"])
    }

    @Test func backticksInsideAPythonStringDoNotCloseTheBlock() {
        let text = """
        ```repl
        prompt = \"\"\"Summarise this log. Answer in a fenced block:
        ```
        <summary>
        ```
        \"\"\"
        answers = llm_query_batched([prompt + chunk for chunk in chunks])
        ```
        Then I will combine them.
        """
        let parsed = ResponseParser.parse(text)
        #expect(parsed.codeBlocks.count == 1)
        #expect(parsed.codeBlocks.first?.hasSuffix("answers = llm_query_batched([prompt + chunk for chunk in chunks])") == true)
        #expect(!parsed.hasUnclosedFence)
    }

    @Test func aFenceAfterAClosedTripleQuotedStringStillCloses() {
        let text = "```repl\nnote = '''a\n```\nb'''\nx = 1  # '''\n```\nprose"
        #expect(ResponseParser.parse(text).codeBlocks == ["note = '''a\n```\nb'''\nx = 1  # '''"])
    }

    @Test func thinkingIsNotParsedForCode() {
        let text = """
        <think>
        Maybe I should run
        ```repl
        FINAL("a guess")
        ```
        No, look first.
        </think>
        ```repl
        print(len(context))
        ```
        """
        let parsed = ResponseParser.parse(text)
        #expect(parsed.codeBlocks == ["print(len(context))"])
        #expect(!parsed.mentionsFinalOutsideCode)
        #expect(RLMNode.prose(of: text).isEmpty)
        // Unclosed reasoning hides the rest; a reply that begins inside the reasoning drops up to </think>.
        #expect(ResponseParser.parse("<think>\n```repl\nprint(1)\n```").codeBlocks.isEmpty)
        #expect(ResponseParser.parse("still thinking\n</think>\n```repl\nprint(2)\n```").codeBlocks == ["print(2)"])
    }

    @Test func feedbackStaysBoundedForManyBlocks() {
        let outputs = (0..<5_000).map { "Block \($0 + 1) of 5000 ran in 0.00 s.\nstdout:\n" + String(repeating: "y", count: 900) }
        let bounded = Prompts.bounded(outputs, totalChars: 40_000)
        let total = bounded.reduce(0) { $0 + $1.count }
        #expect(total < 45_000)
        #expect(bounded.last?.contains("more block(s) ran") == true)
        // Small outputs pass unchanged.
        #expect(Prompts.bounded(["a", "b"], totalChars: 100) == ["a", "b"])
    }
}
