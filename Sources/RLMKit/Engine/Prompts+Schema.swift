import Foundation

extension Prompts {
    // MARK: Typed answers

    /// The heading of the answer-schema section, so a session can tell whether its system prompt has one.
    static let answerSchemaHeading = "## The answer's shape"

    /// The system prompt's section for a run with an answer schema: the schema, and how to build and submit a
    /// value that fits it.
    static func answerSchemaSection(_ schema: AnswerSchema, maxAttempts: Int) -> String {
        """


        \(answerSchemaHeading)
        This run's answer is not prose but a JSON value that must fit this JSON Schema:
        ```json
        \(schemaText(schema))
        ```
        Build the answer in code as Python data — a dict or a list of str, int, float, bool and None — and submit \
        the value itself: `FINAL(value)`, `FINAL_VAR("name")`, or `answer["content"] = value` with \
        `answer["ready"] = True`. It travels as JSON (`json.dumps`), not as `str()`, so do not turn it into \
        text yourself. The schema is also in the REPL as the dict `answer_schema`, and `check_answer(value)` \
        returns the ways a value does not fit, as "path: problem" strings — an empty list means it fits. Call \
        it before you submit. A submission that does not fit is refused and you are told why; after \
        \(maxAttempts) refused submissions the run stops without an answer.
        """
    }

    /// What the model is told when a submission did not fit.
    static func answerRefused(_ refusal: AnswerGate.Refusal, attempt: Int, maxAttempts: Int, skippedBlocks: Int) -> String {
        let shown = refusal.violations.prefix(20).map { "- \($0.description)" }
        var lines = ["Your submission was refused: it does not fit the answer schema (refusal \(attempt) of \(maxAttempts) allowed). Problems, by JSON path into the value:"]
        lines.append(contentsOf: shown)
        if refusal.violations.count > shown.count {
            lines.append("- … and \(refusal.violations.count - shown.count) more")
        }
        if skippedBlocks > 0 {
            lines.append("The \(skippedBlocks) code block(s) after the submission did not run.")
        }
        lines.append("Fix the value in code, check it with `check_answer(value)` until it returns [], then submit it again.")
        return lines.joined(separator: "\n")
    }

    /// The part of a session's follow-up turn about the answer's shape: the schema of this question, or, when
    /// an earlier one had a schema and this one has none, that text is wanted again.
    static func followUpSchemaNote(_ schema: AnswerSchema?, maxAttempts: Int, systemHasSchema: Bool) -> String {
        if let schema {
            return "\n\nThis question's answer must be a JSON value that fits this JSON Schema (also in `answer_schema`):\n```json\n\(schemaText(schema))\n```\nSubmit the dict or list itself; check it first with `check_answer(value)`. After \(maxAttempts) refused submissions the run stops."
        }
        return systemHasSchema ? "\n\nThis question has no answer schema: submit text, as FINAL(...) or FINAL_VAR(...) of a str." : ""
    }

    /// The schema as indented JSON with sorted keys.
    static func schemaText(_ schema: AnswerSchema) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(schema.source), as: UTF8.self)) ?? schema.source.promptText
    }
}
