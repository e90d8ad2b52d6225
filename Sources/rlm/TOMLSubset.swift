import Foundation

/// The part of TOML that `rlm`'s config files use: `[table]` headers (dotted, quoted keys allowed),
/// `key = value` with strings, numbers, booleans and arrays of them (an array may span lines), and comments.
/// The one TOML package on this machine's package mirror cannot be resolved (it depends on a package the
/// mirror lacks), so this small reader stands in for it.
enum TOMLSubset {
    enum Value: Equatable {
        case string(String)
        /// The number as written, underscores removed.
        case number(String)
        case boolean(Bool)
        case array([Value])

        var kindName: String {
            switch self {
            case .string: "a string"
            case .number: "a number"
            case .boolean: "a boolean"
            case .array: "an array"
            }
        }
    }

    /// One `key = value`, its key prefixed with the table it is in.
    struct Entry {
        var key: [String]
        var value: Value
        /// 1-based line where the entry starts.
        var line: Int
    }

    static func entries(in text: String, path: String) throws -> [Entry] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var entries: [Entry] = []
        var table: [String] = []
        var index = 0
        while index < lines.count {
            let number = index + 1
            let line = stripComment(lines[index]).trimmingCharacters(in: .whitespacesAndNewlines)
            index += 1
            if line.isEmpty { continue }
            func fail(_ message: String) -> CLIFailure {
                .configuration("\(path):\(number): \(message). Fix the config file (see README: Configuration file).")
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), !line.hasPrefix("[[") else { throw fail("a table header must look like [name]") }
                table = try splitKey(String(line.dropFirst().dropLast()), fail: fail)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw fail("expected key = value") }
            let key = try splitKey(String(line[..<equals]), fail: fail)
            var raw = String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            // An array may continue on the following lines until its brackets close.
            while raw.hasPrefix("["), !bracketsClose(raw) {
                guard index < lines.count else { throw fail("an array is not closed with ]") }
                raw += " " + stripComment(lines[index]).trimmingCharacters(in: .whitespacesAndNewlines)
                index += 1
            }
            var parser = ValueParser(Array(raw))
            do {
                let value = try parser.parseValue()
                parser.skipSpaces()
                guard parser.atEnd else { throw ValueParser.Problem("unexpected text after the value") }
                entries.append(Entry(key: table + key, value: value, line: number))
            } catch let problem as ValueParser.Problem {
                throw fail(problem.message)
            }
        }
        return entries
    }

    /// The line without its `#` comment (a `#` inside a string is kept).
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var escaped = false
        for (offset, character) in line.enumerated() {
            if let open = quote {
                if escaped { escaped = false } else if open == "\"" && character == "\\" { escaped = true } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" {
                return String(line.prefix(offset))
            }
        }
        return line
    }

    /// True when every `[` outside strings has its `]`.
    private static func bracketsClose(_ text: String) -> Bool {
        var depth = 0
        var quote: Character?
        var escaped = false
        for character in text {
            if let open = quote {
                if escaped { escaped = false } else if open == "\"" && character == "\\" { escaped = true } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "[" {
                depth += 1
            } else if character == "]" {
                depth -= 1
            }
        }
        return depth <= 0
    }

    private static func splitKey(_ key: String, fail: (String) -> CLIFailure) throws -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        for character in key.trimmingCharacters(in: .whitespaces) {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "." {
                parts.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        guard quote == nil else { throw fail("unterminated quote in a key") }
        parts.append(current.trimmingCharacters(in: .whitespaces))
        guard !parts.contains(where: \.isEmpty) else { throw fail("empty key") }
        return parts
    }
}

/// Reads one value: a string, a number, a boolean or an array of values.
private struct ValueParser {
    struct Problem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    private let characters: [Character]
    private var position = 0

    init(_ characters: [Character]) { self.characters = characters }

    var atEnd: Bool { position >= characters.count }

    mutating func skipSpaces() {
        while !atEnd, characters[position].isWhitespace { position += 1 }
    }

    mutating func parseValue() throws -> TOMLSubset.Value {
        skipSpaces()
        guard !atEnd else { throw Problem("a value is missing after =") }
        switch characters[position] {
        case "\"", "'": return .string(try parseString())
        case "[": return .array(try parseArray())
        default: return try parseBare()
        }
    }

    private mutating func parseString() throws -> String {
        let quote = characters[position]
        position += 1
        var text = ""
        while !atEnd {
            let character = characters[position]
            position += 1
            if character == quote { return text }
            guard quote == "\"", character == "\\" else {
                text.append(character)
                continue
            }
            guard !atEnd else { break }
            let escaped = characters[position]
            position += 1
            switch escaped {
            case "\\": text.append("\\")
            case "\"": text.append("\"")
            case "n": text.append("\n")
            case "t": text.append("\t")
            case "r": text.append("\r")
            default: throw Problem("unknown escape \\\(escaped) in a string (use '…' for text with backslashes)")
            }
        }
        throw Problem("unterminated string")
    }

    private mutating func parseArray() throws -> [TOMLSubset.Value] {
        position += 1
        var values: [TOMLSubset.Value] = []
        while true {
            skipSpaces()
            guard !atEnd else { throw Problem("an array is not closed with ]") }
            if characters[position] == "]" {
                position += 1
                return values
            }
            values.append(try parseValue())
            skipSpaces()
            guard !atEnd else { throw Problem("an array is not closed with ]") }
            if characters[position] == "," {
                position += 1
            } else if characters[position] != "]" {
                throw Problem("array items must be separated by commas")
            }
        }
    }

    private mutating func parseBare() throws -> TOMLSubset.Value {
        var word = ""
        while !atEnd, !characters[position].isWhitespace, characters[position] != ",", characters[position] != "]" {
            word.append(characters[position])
            position += 1
        }
        if word == "true" { return .boolean(true) }
        if word == "false" { return .boolean(false) }
        let number = word.replacingOccurrences(of: "_", with: "")
        guard !number.isEmpty, Double(number) != nil else {
            throw Problem("values must be quoted strings, numbers, booleans or arrays")
        }
        return .number(number)
    }
}
