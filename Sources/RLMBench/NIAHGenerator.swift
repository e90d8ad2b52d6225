/// `niah`: one needle ("the special magic number for KEY is N") hidden in filler prose, RULER-style. Across the
/// tasks of a size the needle moves from the start of the input to its end. Scored by exact match.
public enum NIAHGenerator {
    static let adjectives = ["quiet", "amber", "hollow", "silver", "crooked", "gentle", "restless", "frozen", "distant", "bright"]
    static let nouns = ["harbour", "lantern", "meadow", "falcon", "quarry", "orchard", "compass", "glacier", "violin", "canyon"]

    public static func make(seed: UInt64, sizeTokens: Int, index: Int, count: Int) -> BenchTask {
        var random = SeededRandom(seed: seed, suite: "niah", size: sizeTokens, index: index)
        let key = "\(random.pick(adjectives))-\(random.pick(nouns))-\(random.int(in: 100...999))"
        let value = String(random.int(in: 1_000_000...9_999_999))
        let needle = "The special magic number for \(key) is \(value). "
        let total = max(sizeTokens * benchCharsPerToken - needle.utf8.count, 0)
        let depth = count > 1 ? Double(index) / Double(count - 1) : 0.5
        let before = FillerText.make(characters: Int(Double(total) * depth), random: &random)
        let after = FillerText.make(characters: total - before.utf8.count, random: &random)
        return BenchTask(suite: .niah, sizeTokens: sizeTokens, index: index,
                         question: "What is the special magic number for \(key) mentioned in the text? Answer with the number only.",
                         context: .text(before + needle + after), gold: .exact(value))
    }
}
