import Foundation
import RLMBench
import Testing

struct ScorerTests {
    @Test func exactMatchIgnoresCaseSpacesAndSurroundingPunctuation() {
        #expect(BenchScorer.score(" 4821937. ", against: .exact("4821937")) == 1)
        #expect(BenchScorer.score("Answer: More  Common", against: .exact("more common")) == 1)
        #expect(BenchScorer.score("4821938", against: .exact("4821937")) == 0)
        #expect(BenchScorer.score("the number is 4821937", against: .exact("4821937")) == 0)
    }

    @Test func countsScoreThreeQuartersPerStepAway() {
        #expect(BenchScorer.score("12", against: .number(12)) == 1)
        #expect(BenchScorer.score("There are 14 records.", against: .number(12)) == 0.5625)
        #expect(BenchScorer.score("10", against: .number(12)) == 0.5625)
        #expect(BenchScorer.score("1,012", against: .number(1_012)) == 1)
        #expect(BenchScorer.score("none", against: .number(3)) == 0)
    }

    @Test func pairsScoreF1() {
        let gold: BenchGold = .pairs([[1, 2], [1, 3], [2, 3], [3, 4]])
        #expect(BenchScorer.score("(1, 2)\n(3, 1)\n(2,3)\n(3, 4)", against: gold) == 1)
        // 2 right of 3 predicted, 2 of 4 found: precision 2/3, recall 1/2.
        let expected = 2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5)
        #expect(abs(BenchScorer.score("(1, 2) (2, 3) (5, 6)", against: gold) - expected) < 1e-9)
        #expect(BenchScorer.score("", against: gold) == 0)
        #expect(BenchScorer.score("no pairs", against: .pairs([])) == 1)
    }

    @Test func choicesTakeTheFirstStandaloneLetter() {
        #expect(BenchScorer.score("B", against: .choice("B")) == 1)
        #expect(BenchScorer.score("(C) 42", against: .choice("C")) == 1)
        #expect(BenchScorer.score("Answer: D", against: .choice("D")) == 1)
        #expect(BenchScorer.score("A", against: .choice("B")) == 0)
        #expect(BenchScorer.score("I am not sure", against: .choice("A")) == 0)
    }
}
