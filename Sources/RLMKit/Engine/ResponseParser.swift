/// What the engine reads out of one root-model reply.
struct ParsedResponse: Equatable {
    /// Complete ```repl / ```python blocks, in order, dedented.
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

    static func parse(_ reply: String) -> ParsedResponse {
        let text = withoutThinking(reply)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var blocks: [String] = []
        var prose: [String] = []
        var unclosed = false
        var claimsOutput = false
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("```") else {
                let lowered = trimmed.lowercased()
                if lowered.hasPrefix("repl output") || lowered.hasPrefix("output:") { claimsOutput = true }
                prose.append(line)
                index += 1
                continue
            }
            let ticks = String(trimmed.prefix { $0 == "`" })
            let language = trimmed.dropFirst(ticks.count).trimmingCharacters(in: .whitespaces).lowercased()
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            if codeLanguages.contains(language) {
                guard let close = closingFence(in: lines, after: index, ticks: ticks) else {
                    unclosed = true
                    break
                }
                blocks.append(dedent(Array(lines[(index + 1)..<close]), fenceIndent: indent))
                index = close + 1
            } else {
                if ["output", "text", "stdout", "console"].contains(language) { claimsOutput = true }
                let close = (index + 1..<lines.count).first { isFence(lines[$0], ticks: ticks) } ?? lines.count
                prose.append(contentsOf: lines[index..<min(close + 1, lines.count)])
                index = close + 1
            }
        }
        let proseText = prose.joined(separator: "\n")
        let bare = blocks.isEmpty && !unclosed ? bareFinal(in: text) : nil
        return ParsedResponse(
            codeBlocks: blocks.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty },
            hasUnclosedFence: unclosed,
            bareFinal: bare,
            mentionsFinalOutsideCode: bare == nil && proseText.contains("FINAL"),
            claimsOutput: claimsOutput && !blocks.isEmpty)
    }

    /// The reply without the reasoning that local servers (llama.cpp, Ollama, vLLM with reasoning models) leave
    /// in `content` between `<think>` and `</think>`: code in it was never meant to run. A `<think>` that is
    /// never closed hides the rest of the reply.
    static func withoutThinking(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "<think>") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "</think>") else { return result }
            rest = rest[close.upperBound...]
        }
        // A reply may also start inside the reasoning, with only the closing tag (the server ate the opening one).
        if result.isEmpty, let close = rest.range(of: "</think>"), !rest[..<close.lowerBound].contains("```") {
            rest = rest[close.upperBound...]
        }
        return result + rest
    }

    private static func isFence(_ line: String, ticks: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.hasPrefix(ticks) && trimmed.allSatisfy { $0 == "`" }
    }

    /// The line that closes the block opened at `start`: the first bare fence that is not inside a Python
    /// triple-quoted string (models build sub-prompts with ``` in them), else the first bare fence.
    static func closingFence(in lines: [String], after start: Int, ticks: String) -> Int? {
        var scanner = PythonStringScanner()
        var firstFence: Int?
        for index in (start + 1)..<lines.count {
            if isFence(lines[index], ticks: ticks) {
                if !scanner.insideTripleQuotedString { return index }
                firstFence = firstFence ?? index
            }
            scanner.scan(line: lines[index])
        }
        return firstFence
    }

    /// Removes the indentation of a block nested in a list item (the fence's own indentation, or the smallest
    /// common indentation of its lines, whichever is less), so that it runs as top-level Python.
    static func dedent(_ lines: [String], fenceIndent: Int) -> String {
        let nonBlank = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let common = nonBlank.map { $0.prefix { $0 == " " || $0 == "\t" }.count }.min() ?? 0
        let cut = fenceIndent > 0 ? min(fenceIndent, common) : 0
        guard cut > 0 else { return lines.joined(separator: "\n") }
        return lines.map { line in
            let leading = line.prefix { $0 == " " || $0 == "\t" }.count
            return String(line.dropFirst(min(cut, leading)))
        }.joined(separator: "\n")
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

/// Follows Python string literals line by line, far enough to tell whether a line starts inside a
/// triple-quoted string: comments, single-line strings with escapes, and `'''` / `"""` strings.
struct PythonStringScanner {
    /// The delimiter of the triple-quoted string open at the end of the last line, if any.
    private(set) var openTriple: String?

    var insideTripleQuotedString: Bool { openTriple != nil }

    mutating func scan(line: String) {
        let characters = Array(line)
        var index = 0
        var single: Character?
        while index < characters.count {
            let character = characters[index]
            if let triple = openTriple {
                if character == "\\" { index += 2; continue }
                if matches(characters, at: index, triple) {
                    openTriple = nil
                    index += 3
                } else {
                    index += 1
                }
                continue
            }
            if let quote = single {
                if character == "\\" { index += 2; continue }
                if character == quote { single = nil }
                index += 1
                continue
            }
            if character == "#" { return }
            if character == "\"" || character == "'" {
                let triple = String(repeating: String(character), count: 3)
                if matches(characters, at: index, triple) {
                    openTriple = triple
                    index += 3
                } else {
                    single = character
                    index += 1
                }
                continue
            }
            index += 1
        }
    }

    private func matches(_ characters: [Character], at index: Int, _ pattern: String) -> Bool {
        let needle = Array(pattern)
        guard index + needle.count <= characters.count else { return false }
        return Array(characters[index..<(index + needle.count)]) == needle
    }
}
