/// What the engine reads out of one root-model reply.
struct ParsedResponse: Equatable {
    /// Complete ```repl / ```python blocks, in order.
    var codeBlocks: [String]
    /// A fence was opened and never closed (the reply was cut off, or malformed); that code does not run.
    var hasUnclosedFence: Bool
    /// The reply is nothing but `FINAL(...)` or `FINAL_VAR(...)`, with no code block.
    var bareFinal: BareFinal?
    /// The prose mentions FINAL(...) next to code blocks: that does not count as an answer.
    var mentionsFinalOutsideCode: Bool
    /// The prose contains something dressed up as REPL output, which the model cannot have seen.
    var claimsOutput: Bool
}

/// A reply that consists of a final-answer call and nothing else.
struct BareFinal: Equatable {
    enum Kind: Equatable { case final, finalVar }
    var kind: Kind
    /// The text between the parentheses.
    var argument: String
    /// The whole call, runnable as Python.
    var call: String
}

enum ResponseParser {
    static let codeLanguages: Set<String> = ["repl", "python", "py", "python3"]

    static func parse(_ text: String) -> ParsedResponse {
        var blocks: [String] = []
        var prose: [Substring] = []
        var current: [Substring]? = nil
        var fence = ""
        var unclosed = false
        var claimsOutput = false
        var otherFence: String? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var body = current {
                if trimmed == fence || (trimmed.hasPrefix(fence) && trimmed.dropFirst(fence.count).allSatisfy { $0 == "`" }) {
                    blocks.append(body.joined(separator: "\n"))
                    current = nil
                } else {
                    body.append(line)
                    current = body
                }
                continue
            }
            if let open = otherFence {
                if trimmed == open { otherFence = nil }
                prose.append(line)
                continue
            }
            if trimmed.hasPrefix("```") {
                let ticks = String(trimmed.prefix { $0 == "`" })
                let language = trimmed.dropFirst(ticks.count).trimmingCharacters(in: .whitespaces).lowercased()
                if codeLanguages.contains(language) {
                    fence = ticks
                    current = []
                } else {
                    if ["output", "text", "stdout", "console"].contains(language) { claimsOutput = true }
                    otherFence = ticks
                    prose.append(line)
                }
                continue
            }
            if trimmed.lowercased().hasPrefix("repl output") || trimmed.lowercased().hasPrefix("output:") {
                claimsOutput = true
            }
            prose.append(line)
        }
        if current != nil { unclosed = true }
        let proseText = prose.joined(separator: "\n")
        let bare = blocks.isEmpty && !unclosed ? bareFinal(in: text) : nil
        return ParsedResponse(
            codeBlocks: blocks.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty },
            hasUnclosedFence: unclosed,
            bareFinal: bare,
            mentionsFinalOutsideCode: bare == nil && proseText.contains("FINAL"),
            claimsOutput: claimsOutput && !blocks.isEmpty)
    }

    /// `FINAL(...)` / `FINAL_VAR(...)` as the whole reply (surrounding whitespace or backticks allowed).
    static func bareFinal(in text: String) -> BareFinal? {
        var body = text.trimmingCharacters(in: .whitespacesAndNewlines)
        while body.hasPrefix("`") && body.hasSuffix("`") && body.count > 2 {
            body = String(body.dropFirst().dropLast()).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let kind: BareFinal.Kind
        let opening: String
        if body.hasPrefix("FINAL_VAR(") {
            kind = .finalVar
            opening = "FINAL_VAR("
        } else if body.hasPrefix("FINAL(") {
            kind = .final
            opening = "FINAL("
        } else {
            return nil
        }
        guard body.hasSuffix(")") else { return nil }
        let argument = String(body.dropFirst(opening.count).dropLast())
        return BareFinal(kind: kind, argument: argument, call: body)
    }

    /// The literal answer in a bare `FINAL(...)` whose argument is not valid Python (unquoted prose).
    static func literalAnswer(_ final: BareFinal) -> String {
        var argument = final.argument.trimmingCharacters(in: .whitespacesAndNewlines)
        for quote in ["\"\"\"", "'''", "\"", "'"] where argument.count >= 2 * quote.count
            && argument.hasPrefix(quote) && argument.hasSuffix(quote) {
            argument = String(argument.dropFirst(quote.count).dropLast(quote.count))
            break
        }
        return argument
    }
}
