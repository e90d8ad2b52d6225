import Foundation
import ModelSimulator

/// The scripted model behind `rlm bench --simulated`: it plays the root model, the sub-model and the base model
/// on the built-in OpenAI-wire simulator, to prove the harness end to end without a real model.
///
/// It reads each task from the request, as a model would: as the RLM's root it writes code that searches
/// `context` in the REPL (sub-calls label records), then submits the variable its code computed; as the base
/// model it works through the input in its prompt, so it fails when that input was cut. Its scores show what the
/// harness measures, not what any real model can do.
public enum BenchSimulatedModel {
    public static let rootName = "simulated-root"
    public static let subName = "simulated-sub"
    static let labelRequest = "Label each record below with one of:"

    public static func reply(to request: SimulatedRequest) -> SimulatedReply {
        if request.lastUserText.hasPrefix(labelRequest) { return SimulatedReply(text: labels(for: request.lastUserText)) }
        if request.systemText == BasePrompt.system { return SimulatedReply(text: answerFromPrompt(request.lastUserText)) }
        guard request.assistantTurns == 0 else {
            return SimulatedReply(text: "The code stored the answer in `result`.\n```repl\nFINAL_VAR(\"result\")\n```")
        }
        let first = request.messages.first { $0.role == "user" }?.content ?? ""
        let query = first.components(separatedBy: "The question to answer:\n").last?
            .components(separatedBy: "\n\nTurn 1 of").first ?? first
        return SimulatedReply(text: "I will search the context with code.\n```repl\n\(code(for: query))\n```")
    }

    /// The sub-model's reply to a labelling prompt: one label per record, inferred from its text.
    static func labels(for prompt: String) -> String {
        prompt.split(separator: "\n").compactMap(LabelledRecords.instance(of:))
            .map { RecordLabel.infer(from: $0)?.rawValue ?? "unknown" }.joined(separator: "\n")
    }

    // MARK: - The root model's code

    static func code(for query: String) -> String {
        if let key = query.firstMatch(of: /magic number for (\S+) mentioned/)?.output.1 {
            return """
                import re
                found = re.search(r"special magic number for \(key) is (\\d+)", context)
                result = found.group(1) if found else "not found"
                print(len(context), result)
                """
        }
        if query.contains("In this code base") { return codeQACode(query) }
        var code = """
            lines = [line for line in context.split("\\n") if "Instance: " in line]
            chunks = [lines[i:i + 50] for i in range(0, len(lines), 50)]
            header = "\(labelRequest) \(RecordLabel.allCases.map(\.rawValue).joined(separator: ", ")). One label per line, in order.\\n"
            replies = llm_query_batched([header + "\\n".join(chunk) for chunk in chunks])
            labels = [label.strip() for reply in replies for label in reply.strip().split("\\n")]
            counts = {}
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
            print(len(lines), "records", counts)

            """
        if let rare = query.firstMatch(of: /at least one record with the label '(\w+)'/)?.output.1 {
            code += """
                users = sorted({int(line.split("User: ")[1].split(" ")[0]) for line, label in zip(lines, labels) if label == "\(rare)"})
                result = "\\n".join("(%d, %d)" % (a, b) for i, a in enumerate(users) for b in users[i + 1:])
                print(len(users), "users qualify")
                """
        } else if let label = query.firstMatch(of: /How many records have the label '(\w+)'/)?.output.1 {
            code += "result = str(counts.get(\"\(label)\", 0))"
        } else if let match = query.firstMatch(of: /the label '(\w+)' more common than, less common than, or as common as the label '(\w+)'/) {
            code += """
                a, b = counts.get("\(match.output.1)", 0), counts.get("\(match.output.2)", 0)
                result = "more common" if a > b else "less common" if a < b else "same"
                """
        } else {
            code += "result = max(sorted(counts), key=lambda name: counts[name])"
        }
        return code
    }

    static func codeQACode(_ query: String) -> String {
        let choices = query.matches(of: /\(([A-D])\) (.+)/).map { "\"\($0.output.1)\": \"\($0.output.2)\"" }
        let find: String
        if let name = query.firstMatch(of: /the constant `(\w+)`/)?.output.1 {
            find = """
                found = [m.group(1) for text in context.values() for m in [re.search(r"^\(name) = (\\d+)", text, re.M)] if m]
                """
        } else {
            let name = query.firstMatch(of: /the function `(\w+)`/)?.output.1 ?? "missing"
            find = "found = [path for path, text in context.items() if \"def \(name)(\" in text]"
        }
        return """
            import re
            print(len(context), "files")
            \(find)
            choices = {\(choices.joined(separator: ", "))}
            result = next((letter for letter, text in choices.items() if found and text == found[0]), "unknown")
            print(found[:3], result)
            """
    }

    // MARK: - The base model

    /// Works through the input in a base prompt (as cut) the way the RLM's code does.
    static func answerFromPrompt(_ prompt: String) -> String {
        let question = prompt.components(separatedBy: "Question (again): ").last ?? ""
        let input = prompt.components(separatedBy: "--- input ---\n").last?.components(separatedBy: "\n--- end of input ---").first ?? ""
        if let key = question.firstMatch(of: /magic number for (\S+) mentioned/)?.output.1 {
            let needle = "special magic number for \(key) is "
            guard let range = input.range(of: needle) else { return "not found" }
            return String(input[range.upperBound...].prefix { $0.isNumber })
        }
        if question.contains("In this code base") {
            let choices = Dictionary(question.matches(of: /\(([A-D])\) (.+)/).map { (String($0.output.2), String($0.output.1)) }) { a, _ in a }
            if let name = question.firstMatch(of: /the constant `(\w+)`/)?.output.1,
               let value = input.firstMatch(of: try! Regex("\\n\(name) = (\\d+)"))?.output[1].substring {
                return choices[String(value)] ?? "unknown"
            }
            if let name = question.firstMatch(of: /the function `(\w+)`/)?.output.1 {
                var file: String?
                for section in input.components(separatedBy: "=== ").dropFirst() where section.contains("def \(name)(") {
                    file = section.components(separatedBy: " ===").first
                }
                return file.flatMap { choices[$0] } ?? "unknown"
            }
            return "unknown"
        }
        let lines = input.split(separator: "\n").filter { $0.contains("Instance: ") }
        var counts: [String: Int] = [:]
        var usersByLabel: [String: Set<Int>] = [:]
        for line in lines {
            guard let label = LabelledRecords.instance(of: line).flatMap(RecordLabel.infer(from:))?.rawValue else { continue }
            counts[label, default: 0] += 1
            if let user = LabelledRecords.user(of: line) { usersByLabel[label, default: []].insert(user) }
        }
        if let rare = question.firstMatch(of: /at least one record with the label '(\w+)'/)?.output.1 {
            let users = (usersByLabel[String(rare)] ?? []).sorted()
            return users.enumerated().flatMap { position, a in users[(position + 1)...].map { "(\(a), \($0))" } }
                .joined(separator: "\n")
        }
        if let label = question.firstMatch(of: /How many records have the label '(\w+)'/)?.output.1 {
            return String(counts[String(label)] ?? 0)
        }
        if let match = question.firstMatch(of: /the label '(\w+)' more common than, less common than, or as common as the label '(\w+)'/) {
            let (a, b) = (counts[String(match.output.1)] ?? 0, counts[String(match.output.2)] ?? 0)
            return a > b ? "more common" : a < b ? "less common" : "same"
        }
        return counts.keys.sorted().max { (counts[$0]!, $1) < (counts[$1]!, $0) } ?? "unknown"
    }
}
