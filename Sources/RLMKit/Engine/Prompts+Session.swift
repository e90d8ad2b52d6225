import Foundation

extension Prompts {
    // MARK: Host tools

    /// The system prompt's list of host tools; empty when there are none.
    static func toolsSection(_ tools: [RLMTool]) -> String {
        guard !tools.isEmpty else { return "" }
        let lines = tools.map { tool -> String in
            var line = "- `\(tool.name)(...)` — \(tool.description)"
            if let parameters = tool.parameters { line += " Arguments (JSON Schema): \(parameters.promptText)" }
            return line
        }
        return """


        ## Host tools
        These functions run in the host application, outside the REPL, and are the only way your code reaches \
        anything beyond `context`. Call them with keyword arguments (they travel as a JSON object); each returns \
        JSON data (dict, list, str, number, bool or None). A failure raises `HostToolError` with the reason. \
        Each call counts as one sub-call.
        \(lines.joined(separator: "\n"))
        """
    }

    // MARK: Sessions

    /// The turn that opens a later question of a session: what was asked and answered before, and the new
    /// question. The REPL still holds the variables of the earlier questions.
    static func followUpTurn(query: String, earlier: [(question: String, answer: String)], maxIterations: Int) -> String {
        let recap = earlier.enumerated().map { index, pair in
            "\(index + 1). Q: \(OutputTruncation.clip(pair.question, limit: 1_000))\n   A: \(OutputTruncation.clip(pair.answer, limit: 2_000))"
        }.joined(separator: "\n")
        return """
        A new question about the same `context`. Questions already answered in this session:
        \(recap)

        The REPL still holds every variable you made for them; `SHOW_VARS()` lists them. `answer` has been reset.

        The question to answer:
        \(query)

        Turn 1 of \(maxIterations). Reuse what you computed before when it helps.
        """
    }
}
