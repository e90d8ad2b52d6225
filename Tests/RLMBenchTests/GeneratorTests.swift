import Foundation
import RLMBench
import Testing

struct GeneratorTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-gen-\(UUID().uuidString.prefix(8))")

    @Test(arguments: BenchSuite.allCases)
    func theSameSeedGivesTheSameTasks(suite: BenchSuite) throws {
        defer { try? FileManager.default.removeItem(at: scratch) }
        let first = try BenchTaskSet.make(suite: suite, seed: 7, sizes: [2_000, 4_000], count: 3, workDirectory: scratch.appendingPathComponent("a"))
        let again = try BenchTaskSet.make(suite: suite, seed: 7, sizes: [2_000, 4_000], count: 3, workDirectory: scratch.appendingPathComponent("b"))
        let other = try BenchTaskSet.make(suite: suite, seed: 8, sizes: [2_000, 4_000], count: 3, workDirectory: scratch.appendingPathComponent("c"))
        #expect(first.count == 6)
        #expect(first.map(\.question) == again.map(\.question))
        #expect(first.map(\.gold) == again.map(\.gold))
        #expect(first.map(\.question) != other.map(\.question) || first.map(\.gold) != other.map(\.gold))
        for (a, b) in zip(first, again) {
            switch (a.context, b.context) {
            case (.text(let x), .text(let y)): #expect(x == y)
            case (.directory(let x), .directory(let y)): #expect(Self.folderText(x) == Self.folderText(y))
            default: Issue.record("contexts of different kinds")
            }
        }
    }

    static func folderText(_ path: String) -> [String: String] {
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []
        var result: [String: String] = [:]
        for file in files { result[file] = try? String(contentsOfFile: path + "/" + file, encoding: .utf8) }
        return result
    }

    @Test func generatedInputsHaveAboutTheSizeAskedFor() throws {
        for suite in [BenchSuite.niah, .oolong, .pairs] {
            let task = try #require(try BenchTaskSet.make(suite: suite, seed: 1, sizes: [8_000], count: 1, workDirectory: scratch).first)
            guard case .text(let text) = task.context else { Issue.record("not text"); continue }
            #expect(abs(text.utf8.count - 32_000) < 400, "\(suite): \(text.utf8.count) bytes")
        }
    }

    @Test func theNeedleMovesFromTheStartToTheEnd() throws {
        let tasks = (0..<3).map { NIAHGenerator.make(seed: 3, sizeTokens: 10_000, index: $0, count: 3) }
        let positions = tasks.map { task -> Double in
            guard case .text(let text) = task.context, let range = text.range(of: "special magic number") else { return -1 }
            return Double(text.distance(from: text.startIndex, to: range.lowerBound)) / Double(text.count)
        }
        #expect(positions[0] < 0.05)
        #expect(abs(positions[1] - 0.5) < 0.05)
        #expect(positions[2] > 0.95)
        guard case .exact(let value) = tasks[0].gold, case .text(let text) = tasks[0].context else { Issue.record("shape"); return }
        #expect(text.contains("is \(value)."))
    }

    @Test func oolongAnswersFollowFromTheInferredLabels() throws {
        for index in 0..<3 {
            let task = OolongGenerator.make(seed: 5, sizeTokens: 6_000, index: index)
            guard case .text(let text) = task.context else { Issue.record("not text"); return }
            var counts: [String: Int] = [:]
            for line in text.split(separator: "\n") {
                let label = try #require(LabelledRecords.instance(of: line).flatMap(RecordLabel.infer(from:)))
                counts[label.rawValue, default: 0] += 1
            }
            #expect(!text.contains("label:"), "labels are never written in the records")
            switch task.gold {
            case .number(let count):
                let label = try #require(task.question.firstMatch(of: /label '(\w+)'\?/)?.output.1)
                #expect(counts[String(label)] ?? 0 == count)
            case .exact(let answer): #expect(!answer.isEmpty)
            default: Issue.record("unexpected gold \(task.gold)")
            }
        }
    }

    @Test func pairsAreEveryPairOfQualifyingUsers() throws {
        let task = PairsGenerator.make(seed: 2, sizeTokens: 8_000, index: 0)
        guard case .pairs(let pairs) = task.gold, case .text(let text) = task.context else { Issue.record("shape"); return }
        let label = try #require(task.question.firstMatch(of: /with the label '(\w+)'/)?.output.1)
        let users = Set(text.split(separator: "\n").filter {
            LabelledRecords.instance(of: $0).flatMap(RecordLabel.infer(from:))?.rawValue == String(label)
        }.compactMap { LabelledRecords.user(of: $0) })
        #expect(pairs.count == users.count * (users.count - 1) / 2)
        #expect(pairs.allSatisfy { $0[0] < $0[1] && users.contains($0[0]) && users.contains($0[1]) })
    }

    @Test func codeQAChoicesHoldTheAnswer() throws {
        defer { try? FileManager.default.removeItem(at: scratch) }
        let task = try CodeQAGenerator.make(seed: 4, sizeTokens: 4_000, index: 0, root: scratch)
        guard case .choice(let letter) = task.gold else { Issue.record("not a choice"); return }
        let name = try #require(task.question.firstMatch(of: /constant `(\w+)`/)?.output.1)
        let chosen = try #require(task.question.firstMatch(of: try Regex("\\(\(letter)\\) (\\d+)"))?.output[1].substring)
        let files = Self.folderText(scratch.path).values.joined()
        #expect(files.contains("\n\(name) = \(chosen)\n"))
    }

    @Test func sizesParse() throws {
        #expect(try BenchSize.parseList("8k,32k,1m, 4M") == [8_000, 32_000, 1_000_000, 4_000_000])
        #expect(BenchSize.label(128_000) == "128k")
        #expect(BenchSize.label(1_000_000) == "1m")
        #expect(throws: BenchInputError.self) { try BenchSize.parse("lots") }
    }
}
