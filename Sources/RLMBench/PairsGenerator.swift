/// `pairs` (OOLONG-Pairs): the answer is every pair of users that both meet a condition over their records'
/// inferred labels. Scored by F1 over the set of pairs.
public enum PairsGenerator {
    /// Users that qualify, on average: enough pairs to be a real set, few enough to write out.
    static let qualifyingUsers = 12.0

    public static func make(seed: UInt64, sizeTokens: Int, index: Int) -> BenchTask {
        var random = SeededRandom(seed: seed, suite: "pairs", size: sizeTokens, index: index)
        let users = (0..<max(16, sizeTokens / 500)).map { _ in random.int(in: 10_000...99_999) }
        let rare = random.pick(RecordLabel.allCases)
        // The rare label's share is set so that about `qualifyingUsers` users have a record with it.
        let recordCount = Double(sizeTokens * benchCharsPerToken) / 80
        let share = min(0.2, qualifyingUsers / max(recordCount, 1))
        var weights: [RecordLabel: Double] = [:]
        for label in RecordLabel.allCases { weights[label] = label == rare ? share * 5 / (1 - share) : 1 }
        let records = LabelledRecords.make(characters: sizeTokens * benchCharsPerToken, users: users, weights: weights,
                                           random: &random)
        let qualifying = Set(records.filter { $0.label == rare }.map(\.user)).sorted()
        var pairs: [[Int]] = []
        for (position, first) in qualifying.enumerated() {
            for second in qualifying[(position + 1)...] { pairs.append([first, second]) }
        }
        let question = OolongGenerator.preamble + "\n\n"
            + "List every pair of distinct user ids such that both users have at least one record with the label "
            + "'\(rare.rawValue)'. Write each pair as (smaller id, larger id), one pair per line, and nothing else."
        return BenchTask(suite: .pairs, sizeTokens: sizeTokens, index: index, question: question,
                         context: .text(records.map(\.line).joined(separator: "\n")), gold: .pairs(pairs))
    }
}
