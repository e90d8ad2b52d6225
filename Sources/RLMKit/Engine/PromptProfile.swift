import Foundation

/// A tuning of the system prompt for a family of root models.
///
/// Models differ in how they use the REPL: some spend sub-calls on every line, small local models lose track
/// of long instructions. A profile adds a short section for such a model without replacing the prompt.
public enum PromptProfile: String, Sendable, CaseIterable, Codable {
    /// The system prompt as written, for capable general models.
    case standard
    /// For models that spend sub-calls freely: few, large, batched sub-calls.
    case frugal
    /// For small local models (up to about 14B parameters): one short block per reply, exact names, little output.
    case small

    /// The profile that suits a model, judged from its name: a parameter count up to 14B (`qwen3:8b`,
    /// `Llama-3.2-3B-Instruct`, `smollm2-135m`) means `small`; the Qwen family means `frugal`.
    public static func forModel(_ name: String) -> PromptProfile {
        let lowered = name.lowercased()
        if let parameters = parameterCount(in: lowered), parameters <= 14e9 { return .small }
        if lowered.contains("qwen") { return .frugal }
        return .standard
    }

    /// The largest parameter count a model name states (`8b`, `0.5b`, `135m`), if any.
    static func parameterCount(in name: String) -> Double? {
        let words = name.split { !($0.isLetter || $0.isNumber || $0 == ".") }
        let counts = words.compactMap { word -> Double? in
            guard let unit = word.last, unit == "b" || unit == "m" else { return nil }
            guard let number = Double(word.dropLast()), number > 0 else { return nil }
            return number * (unit == "b" ? 1e9 : 1e6)
        }
        return counts.max()
    }

    /// The section this profile adds to the system prompt; empty for `standard`.
    var guidance: String {
        switch self {
        case .standard:
            return ""
        case .frugal:
            return """
            ## Spend sub-calls sparingly
            Sub-calls are the slow and costly part of a run. Narrow the input down in code first, then make few, \
            large sub-calls, each filled close to the size one prompt can hold, and send them together with \
            `llm_query_batched`. Never call a sub-model once per line or per record: a whole run rarely needs \
            more than a few dozen sub-calls.
            """
        case .small:
            return """
            ## Keep it simple
            Write exactly one short ```repl block per reply, after at most two lines of text. Use only the \
            functions listed above, spelled exactly as shown. Print little: a count, a few hundred characters, a \
            short list. Send text to a sub-model in a few large pieces with `llm_query_batched`, not line by line. \
            When a printed result answers the question, submit it with FINAL(...) in your next block.
            """
        }
    }
}
