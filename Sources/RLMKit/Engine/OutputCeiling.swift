/// The most one request may ask a model to write, whatever the budget leaves: a server refuses a cap above the
/// model's own output limit (OpenAI: "max_tokens is too large") or past the end of its window (vLLM).
enum OutputCeiling {
    /// Published output limits of hosted model families, in tokens. Open-weight models are bounded by their window.
    static func published(for model: String) -> Int? {
        let name = model.lowercased()
        let table: [(String, Int)] = [
            ("gpt-4.1", 32_768), ("gpt-4o", 16_384), ("gpt-5", 128_000), ("gpt-4", 4_096), ("gpt-3.5", 4_096),
            ("o1", 32_768), ("o3", 100_000), ("o4", 100_000), ("gemini-2", 65_536), ("gemini", 8_192),
        ]
        return table.first { name.hasPrefix($0.0) || name.contains("/" + $0.0) }?.1
    }

    /// The ceiling for a prompt of `promptChars` characters to `model` in a window of `windowTokens`: the room the
    /// window leaves after the prompt (estimated as the ledger does, which errs high, so never below an eighth of
    /// the window), and the model's published limit.
    static func tokens(model: String, windowTokens: Int, promptChars: Int) -> Int {
        let windowRoom = max(windowTokens / 8, windowTokens - (promptChars / 3 + 16))
        return min(windowRoom, published(for: model) ?? .max)
    }
}
