import Foundation

/// Records for `oolong` and `pairs`: a date, a user id and a short question whose category is the record's label.
/// The label is never written: it has to be inferred from the question's text, as in OOLONG's TREC-style data.
public enum RecordLabel: String, CaseIterable, Codable, Sendable {
    case abbreviation, entity, description, human, location, numeric

    /// How the label is explained to the model.
    public static let definitions = """
        abbreviation (asks what an abbreviation stands for), entity (asks for a thing: an animal, a plant, an \
        instrument, a substance), description (asks why or how something happens), human (asks who someone is), \
        location (asks where something is), numeric (asks for a number, a count, a date or a size)
        """

    /// Question templates; `{x}` and `{y}` take words from ``LabelledRecords/fillers``.
    var templates: [String] {
        switch self {
        case .abbreviation: ["What does {X} stand for?", "What is the full form of {X}?", "What is {X} short for?"]
        case .entity: ["What animal lives near the {x}?", "Which plant grows best in {y}?", "What instrument is played at the {x}?",
                       "What substance is used to clean the {x}?"]
        case .description: ["Why does the {x} change colour in {y}?", "How does the {x} keep warm during {y}?",
                            "Why do people visit the {x}?", "How is the {x} built?"]
        case .human: ["Who designed the {x} in {y}?", "Who was the first mayor of {y}?", "Who painted the {x}?",
                      "Which person founded the {x}?"]
        case .location: ["Where is the oldest {x} in {y}?", "Where can one find the {x}?", "In which country is {y}?",
                         "Where was the {x} first built?"]
        case .numeric: ["How many {x}s are there in {y}?", "When was the {x} opened?", "How tall is the {x} in {y}?",
                        "How much does the {x} weigh?"]
        }
    }

    /// The label a question's wording implies: what a reader (or the simulated sub-model) infers from the text.
    public static func infer(from question: String) -> RecordLabel? {
        let text = question.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("What does") || text.hasPrefix("What is the full form") || text.contains(" short for?") { return .abbreviation }
        if text.hasPrefix("Who ") || text.hasPrefix("Which person") { return .human }
        if text.hasPrefix("Where ") || text.hasPrefix("In which country") { return .location }
        if text.hasPrefix("How many") || text.hasPrefix("When ") || text.hasPrefix("How tall") || text.hasPrefix("How much") { return .numeric }
        if text.hasPrefix("Why ") || text.hasPrefix("How ") { return .description }
        if text.hasPrefix("What ") || text.hasPrefix("Which ") { return .entity }
        return nil
    }
}

/// One generated record.
public struct LabelledRecord: Sendable, Equatable {
    public var user: Int
    public var label: RecordLabel
    public var line: String
}

public enum LabelledRecords {
    static let things = ["bridge", "lighthouse", "museum", "tower", "river", "market", "cathedral", "canal", "stadium", "forest"]
    static let places = ["Lisbon", "Kyoto", "Oslo", "Quito", "Nairobi", "Perth", "Tallinn", "Cusco", "Hobart", "Bergen"]
    static let acronyms = ["NASA", "UNESCO", "HTML", "GDP", "DNA", "NATO", "RAM", "LED", "UEFA", "FIFA"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// About `characters` characters of records, one per line. `weights` gives each label's share (default even);
    /// users are drawn from `users` ids.
    static func make(characters: Int, users: [Int], weights: [RecordLabel: Double] = [:],
                     random: inout SeededRandom) -> [LabelledRecord] {
        let labels = RecordLabel.allCases
        let total = labels.reduce(0.0) { $0 + (weights[$1] ?? 1) }
        var records: [LabelledRecord] = []
        var written = 0
        while written < characters {
            var draw = Double(random.next() % 1_000_000) / 1_000_000 * total
            var label = labels[labels.count - 1]
            for candidate in labels {
                draw -= weights[candidate] ?? 1
                if draw < 0 { label = candidate; break }
            }
            let question = random.pick(label.templates)
                .replacingOccurrences(of: "{X}", with: random.pick(acronyms))
                .replacingOccurrences(of: "{x}", with: random.pick(things))
                .replacingOccurrences(of: "{y}", with: random.pick(places))
            let user = random.pick(users)
            let date = "\(random.pick(months)) \(String(format: "%02d", random.int(in: 1...28))), \(random.int(in: 2019...2024))"
            let line = "Date: \(date) || User: \(user) || Instance: \(question)"
            records.append(LabelledRecord(user: user, label: label, line: line))
            written += line.utf8.count + 1
        }
        return records
    }

    /// The instance text of a record line, as written by ``make(characters:users:weights:random:)``.
    public static func instance(of line: some StringProtocol) -> String? {
        guard let range = line.range(of: "Instance: ") else { return nil }
        return String(line[range.upperBound...])
    }

    /// The user id of a record line.
    public static func user(of line: some StringProtocol) -> Int? {
        guard let start = line.range(of: "User: ") else { return nil }
        return Int(line[start.upperBound...].prefix { $0.isNumber })
    }
}
