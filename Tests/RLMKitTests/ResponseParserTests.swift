import Testing
@testable import RLMKit

@Suite struct ResponseParserTests {
    @Test func extractsReplAndPythonBlocksInOrder() {
        let text = """
        Let me look.
        ```repl
        print(len(context))
        ```
        and also
        ```python
        x = 1
        ```
        ```bash
        ls
        ```
        """
        let parsed = ResponseParser.parse(text)
        #expect(parsed.codeBlocks == ["print(len(context))", "x = 1"])
        #expect(!parsed.hasUnclosedFence)
        #expect(parsed.bareFinal == nil)
    }

    @Test func unclosedFenceDoesNotRun() {
        let parsed = ResponseParser.parse("```repl\nprint(1)\n```\n```repl\nprint(2")
        #expect(parsed.codeBlocks == ["print(1)"])
        #expect(parsed.hasUnclosedFence)
    }

    @Test func bareFinalIsRecognisedOnlyWithoutCode() {
        #expect(ResponseParser.parse("FINAL(\"42\")").bareFinal?.argument == "\"42\"")
        #expect(ResponseParser.parse("  `FINAL_VAR(result)`  ").bareFinal?.kind == .finalVar)
        let withCode = ResponseParser.parse("```repl\nx = 2\n```\nFINAL(x)")
        #expect(withCode.bareFinal == nil)
        #expect(withCode.mentionsFinalOutsideCode)
        #expect(ResponseParser.parse("The answer is FINAL(3) I think").bareFinal == nil)
    }

    @Test func literalAnswerStripsQuotes() {
        #expect(ResponseParser.literalAnswer(BareFinal(kind: .final, argument: "'Paris'", call: "")) == "Paris")
        #expect(ResponseParser.literalAnswer(BareFinal(kind: .final, argument: "the cat sat", call: "")) == "the cat sat")
    }

    @Test func imaginedOutputIsFlagged() {
        let parsed = ResponseParser.parse("```repl\nprint(1)\n```\n```output\n1\n```")
        #expect(parsed.codeBlocks == ["print(1)"])
        #expect(parsed.claimsOutput)
    }

    @Test func longerFencesAndIndentedClosers() {
        let parsed = ResponseParser.parse("````repl\ns = '```'\n````\n")
        #expect(parsed.codeBlocks == ["s = '```'"])
    }
}

@Suite struct OutputTruncationTests {
    @Test func shortOutputIsUntouched() {
        #expect(OutputTruncation.join(CapturedText(head: "abc", tail: "", total: 3)) == "abc")
    }

    @Test func cutOutputSaysHowMuchWasCut() {
        let joined = OutputTruncation.join(CapturedText(head: "start", tail: "end", total: 1_008))
        #expect(joined.hasPrefix("start"))
        #expect(joined.hasSuffix("end"))
        #expect(joined.contains("1000 characters cut"))
    }

    @Test func clipKeepsBothEnds() {
        let text = String(repeating: "a", count: 500) + String(repeating: "z", count: 500)
        let clipped = OutputTruncation.clip(text, limit: 100)
        #expect(clipped.hasPrefix("aaaa"))
        #expect(clipped.hasSuffix("zzzz"))
        #expect(clipped.contains("900 characters cut"))
    }
}

@Suite struct ConcurrencyLimiterTests {
    @Test func neverExceedsItsLimit() async throws {
        let limiter = ConcurrencyLimiter(limit: 4)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask { try await limiter.run { try await Task.sleep(for: .milliseconds(5)) } }
            }
            try await group.waitForAll()
        }
        #expect(await limiter.peak == 4)
    }
}
