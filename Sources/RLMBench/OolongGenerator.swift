/// `oolong`: counting and comparison questions over every record of a long list, where each record's label has
/// to be inferred from its text. Counts score 0.75^|gold − prediction|; the other answers score exact match.
public enum OolongGenerator {
    static let preamble = """
        The input is a list of records, one per line: a date, a user id and a question (the instance). Each \
        instance belongs to exactly one of these labels, which is not written in the record and has to be \
        inferred from the instance's wording: \(RecordLabel.definitions).
        """

    public static func make(seed: UInt64, sizeTokens: Int, index: Int) -> BenchTask {
        var random = SeededRandom(seed: seed, suite: "oolong", size: sizeTokens, index: index)
        let users = (0..<max(8, sizeTokens / 1_000)).map { _ in random.int(in: 10_000...99_999) }
        // Uneven label shares, so that comparisons and "most common" have clear answers.
        var weights: [RecordLabel: Double] = [:]
        for (rank, label) in random.shuffled(RecordLabel.allCases).enumerated() { weights[label] = Double(rank + 1) }
        let records = LabelledRecords.make(characters: sizeTokens * benchCharsPerToken, users: users, weights: weights,
                                           random: &random)
        var counts: [RecordLabel: Int] = [:]
        for record in records { counts[record.label, default: 0] += 1 }
        let context = records.map(\.line).joined(separator: "\n")
        let question: String
        let gold: BenchGold
        switch index % 3 {
        case 0:
            let label = random.pick(RecordLabel.allCases)
            question = "How many records have the label '\(label.rawValue)'? Answer with the number only."
            gold = .number(counts[label] ?? 0)
        case 1:
            let pair = random.shuffled(RecordLabel.allCases).prefix(2)
            let (first, second) = (pair[pair.startIndex], pair[pair.startIndex + 1])
            let (a, b) = (counts[first] ?? 0, counts[second] ?? 0)
            question = "Is the label '\(first.rawValue)' more common than, less common than, or as common as the label "
                + "'\(second.rawValue)' across all records? Answer with exactly one of: more common, less common, same."
            gold = .exact(a > b ? "more common" : a < b ? "less common" : "same")
        default:
            let top = RecordLabel.allCases.max { (counts[$0] ?? 0, $1.rawValue) < (counts[$1] ?? 0, $0.rawValue) }!
            question = "Which label is the most common across all records? Answer with the label only."
            gold = .exact(top.rawValue)
        }
        return BenchTask(suite: .oolong, sizeTokens: sizeTokens, index: index, question: preamble + "\n\n" + question,
                         context: .text(context), gold: gold)
    }
}
