import Foundation

/// Scores a prediction against a task's expected answer, between 0 and 1.
public enum BenchScorer {
    public static func score(_ prediction: String, against gold: BenchGold) -> Double {
        switch gold {
        case .exact(let answer): exactMatch(prediction, answer) ? 1 : 0
        case .number(let answer): numeric(prediction, answer)
        case .pairs(let answer): f1(predicted: pairs(in: prediction), gold: Set(answer.map(Pair.init)))
        case .choice(let letter): choice(in: prediction) == letter ? 1 : 0
        }
    }

    /// Equal after lower-casing, collapsing white space and dropping surrounding quotes, punctuation and a leading
    /// "answer:".
    public static func exactMatch(_ prediction: String, _ gold: String) -> Bool {
        normalised(prediction) == normalised(gold)
    }

    static func normalised(_ text: String) -> String {
        var value = text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let trim = CharacterSet(charactersIn: " \"'`.,;:!*()[]")
        value = value.trimmingCharacters(in: trim)
        if value.hasPrefix("answer:") { value = String(value.dropFirst("answer:".count)).trimmingCharacters(in: trim) }
        return value
    }

    /// 0.75^|gold − prediction| for the first whole number in the prediction; 0 when it holds none.
    public static func numeric(_ prediction: String, _ gold: Int) -> Double {
        guard let match = prediction.firstMatch(of: /-?\d[\d,]*/),
              let value = Int(match.output.replacingOccurrences(of: ",", with: "")) else { return 0 }
        return pow(0.75, Double(abs(gold - value)))
    }

    /// An unordered pair of ids.
    public struct Pair: Hashable, Sendable {
        public var low: Int
        public var high: Int
        public init(_ values: [Int]) {
            low = min(values.first ?? 0, values.last ?? 0)
            high = max(values.first ?? 0, values.last ?? 0)
        }
    }

    /// Every `(a, b)` (or `a, b` on a line of its own) in the text.
    public static func pairs(in text: String) -> Set<Pair> {
        Set(text.matches(of: /\(?\s*(\d+)\s*,\s*(\d+)\s*\)?/).compactMap { match -> Pair? in
            guard let a = Int(match.output.1), let b = Int(match.output.2), a != b else { return nil }
            return Pair([a, b])
        })
    }

    /// F1 of two sets; 1 when both are empty.
    public static func f1(predicted: Set<Pair>, gold: Set<Pair>) -> Double {
        if predicted.isEmpty && gold.isEmpty { return 1 }
        let hits = Double(predicted.intersection(gold).count)
        guard hits > 0 else { return 0 }
        let precision = hits / Double(predicted.count)
        let recall = hits / Double(gold.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// The chosen letter: `B`, `(B)`, `B)` or "answer: B" — the first standalone A–D.
    public static func choice(in text: String) -> String? {
        text.firstMatch(of: /(?:^|[^A-Za-z])([A-D])(?:$|[^A-Za-z])/).map { String($0.output.1) }
    }
}
