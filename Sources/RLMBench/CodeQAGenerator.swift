import Foundation
import RLMKit

/// `codeqa`: multiple-choice questions with known answers over a generated source tree written to disk, or over a
/// real repository with a question file. Scored by the chosen letter.
public enum CodeQAGenerator {
    static let verbs = ["load", "parse", "merge", "render", "check", "encode", "fetch", "store", "rank", "split"]
    static let nouns = ["invoice", "ledger", "sensor", "ticket", "profile", "route", "batch", "schema", "report", "token"]
    static let packages = ["billing", "storage", "network", "search", "accounts", "reports", "scheduler", "metrics"]
    static let letters = ["A", "B", "C", "D"]

    /// Writes a tree of about `sizeTokens` tokens of Python modules under `root` and asks one question about it.
    public static func make(seed: UInt64, sizeTokens: Int, index: Int, root: URL) throws -> BenchTask {
        var random = SeededRandom(seed: seed, suite: "codeqa", size: sizeTokens, index: index)
        let fileCount = max(4, sizeTokens * benchCharsPerToken / 3_000)
        var constants: [(name: String, value: Int)] = []
        var functions: [(name: String, file: String)] = []
        var files: [String] = []
        try? FileManager.default.removeItem(at: root)
        for number in 0..<fileCount {
            let package = random.pick(packages)
            let path = "\(package)/\(random.pick(nouns))_\(random.pick(verbs))_\(number).py"
            var text = "\"\"\"Helpers for \(package): generated module \(number).\"\"\"\nimport math\n\n"
            while text.utf8.count < 3_000 {
                let constant = "\(random.pick(nouns).uppercased())_\(random.pick(verbs).uppercased())_LIMIT_\(constants.count)"
                let value = random.int(in: 10...9_999)
                constants.append((constant, value))
                let function = "\(random.pick(verbs))_\(random.pick(nouns))_\(functions.count)"
                functions.append((function, path))
                text += """
                    \(constant) = \(value)


                    def \(function)(items, scale=\(random.int(in: 2...9))):
                        \"\"\"\(random.pick(verbs).capitalized) each \(random.pick(nouns)) and keep those under \(constant).\"\"\"
                        kept = [item * scale for item in items if item * scale < \(constant)]
                        return sorted(kept)[: math.isqrt(len(kept)) + 1]


                    """
            }
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            files.append(path)
        }
        let question: String
        let correct: String
        var wrong: Set<String> = []
        if index % 2 == 0 {
            let target = random.pick(constants)
            question = "In this code base, what value is the constant `\(target.name)` set to?"
            correct = String(target.value)
            while wrong.count < 3 {
                let candidate = String(random.int(in: 10...9_999))
                if candidate != correct { wrong.insert(candidate) }
            }
        } else {
            let target = random.pick(functions)
            question = "In this code base, which file defines the function `\(target.name)`?"
            correct = target.file
            let others = Set(files).subtracting([correct])
            for candidate in random.shuffled(others.sorted()) where wrong.count < 3 { wrong.insert(candidate) }
            var filler = 0
            while wrong.count < 3 { wrong.insert("unused/missing_\(filler).py"); filler += 1 }
        }
        let choices = random.shuffled([correct] + wrong.sorted())
        let answer = letters[choices.firstIndex(of: correct)!]
        return BenchTask(suite: .codeqa, sizeTokens: sizeTokens, index: index,
                         question: multipleChoice(question, choices: choices),
                         context: .directory(root.path), gold: .choice(answer))
    }

    /// The question with its choices, and how to answer.
    public static func multipleChoice(_ question: String, choices: [String]) -> String {
        let lines = zip(letters, choices).map { "(\($0)) \($1)" }
        return ([question] + lines + ["Answer with the letter of the right choice only."]).joined(separator: "\n")
    }

    /// One question of a question file (JSON lines): `{"question": "...", "choices": ["...", ...], "answer": "B"}`.
    struct QuestionLine: Decodable {
        var question: String
        var choices: [String]
        var answer: String
    }

    /// Tasks over a real repository, from a question file; the size is the repository's text in tokens.
    public static func load(questionFile: URL, repository: URL) throws -> [BenchTask] {
        guard let text = try? String(contentsOf: questionFile, encoding: .utf8) else {
            throw BenchInputError("cannot read the question file \(questionFile.path). Check the path given to --questions.")
        }
        let size = repositoryTokens(repository)
        var tasks: [BenchTask] = []
        for (number, line) in text.split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let entry = try? JSONDecoder().decode(QuestionLine.self, from: Data(line.utf8)),
                  (2...4).contains(entry.choices.count),
                  let letter = letters.prefix(entry.choices.count).first(where: { $0 == entry.answer.uppercased() }) else {
                throw BenchInputError("line \(number + 1) of \(questionFile.path) is not a question: write "
                    + "{\"question\": \"...\", \"choices\": [2 to 4 strings], \"answer\": \"A\"} on each line.")
            }
            tasks.append(BenchTask(suite: .codeqa, sizeTokens: size, index: tasks.count,
                                   question: multipleChoice(entry.question, choices: entry.choices),
                                   context: .directory(repository.path), gold: .choice(letter)))
        }
        guard !tasks.isEmpty else { throw BenchInputError("the question file \(questionFile.path) holds no questions.") }
        return tasks
    }

    /// The size of the files a directory context over `root` loads, in tokens (about 4 bytes each).
    static func repositoryTokens(_ root: URL) -> Int {
        max(1, ((try? DirectoryListing.walk(root))?.totalBytes ?? 0) / benchCharsPerToken)
    }
}
