import Foundation

/// The task families of `rlm bench`.
public enum BenchSuite: String, Codable, Sendable, CaseIterable {
    case niah, oolong, pairs, codeqa
}

/// How a prediction is compared with the expected answer.
public enum BenchGold: Codable, Sendable, Equatable {
    /// The answer text, compared after normalising case, spaces and surrounding punctuation.
    case exact(String)
    /// A count: the score is 0.75^|gold − prediction|.
    case number(Int)
    /// A set of pairs of ids (each written smaller first): scored by F1.
    case pairs([[Int]])
    /// A multiple-choice letter (A, B, C, D).
    case choice(String)
}

/// The input of one task: text held in memory, or a folder on disk (codeqa).
public enum BenchContext: Codable, Sendable, Equatable {
    case text(String)
    case directory(String)
}

/// One generated task: the same seed, suite, size and index always give the same task.
public struct BenchTask: Codable, Sendable, Equatable {
    public var suite: BenchSuite
    /// Input size asked for, in tokens (about 4 characters each).
    public var sizeTokens: Int
    public var index: Int
    public var question: String
    public var context: BenchContext
    public var gold: BenchGold

    public init(suite: BenchSuite, sizeTokens: Int, index: Int, question: String, context: BenchContext, gold: BenchGold) {
        self.suite = suite
        self.sizeTokens = sizeTokens
        self.index = index
        self.question = question
        self.context = context
        self.gold = gold
    }

    /// A key that names the task within a run (suite, size and index).
    public var id: String { Self.id(suite: suite, sizeTokens: sizeTokens, index: index) }

    /// The id of the task of `suite` at `sizeTokens` and `index`, without generating it.
    public static func id(suite: BenchSuite, sizeTokens: Int, index: Int) -> String { "\(suite.rawValue)-\(sizeTokens)-\(index)" }
}

/// Characters per token used to size generated inputs and to cut the base model's prompt.
public let benchCharsPerToken = 4

/// Sizes written as `8k`, `32k`, `1m` or plain numbers of tokens.
public enum BenchSize {
    /// Parses `8k,32k,1m`; throws a message naming the bad entry.
    public static func parseList(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { try parse(String($0)) }
    }

    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let multiplier: Int
        var digits = Substring(trimmed)
        switch trimmed.last {
        case "k": multiplier = 1_000; digits = digits.dropLast()
        case "m": multiplier = 1_000_000; digits = digits.dropLast()
        default: multiplier = 1
        }
        guard let value = Double(digits), value > 0, value * Double(multiplier) < 1e10 else {
            throw BenchInputError("'\(text)' is not a size; write tokens as 8k, 32k, 1m or a number.")
        }
        return Int(value * Double(multiplier))
    }

    /// `8k`, `1m`, `1.5m`: the label used in tables and the plot.
    public static func label(_ tokens: Int) -> String {
        if tokens >= 1_000_000 && tokens % 100_000 == 0 {
            return tokens % 1_000_000 == 0 ? "\(tokens / 1_000_000)m" : String(format: "%.1fm", Double(tokens) / 1e6)
        }
        if tokens >= 1_000 && tokens % 1_000 == 0 { return "\(tokens / 1_000)k" }
        return String(tokens)
    }
}

/// Bad input to the benchmark (a size, a question file): the message says what to fix.
public struct BenchInputError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
