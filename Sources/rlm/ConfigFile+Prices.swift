import RLMKit

extension ConfigFile {
    /// The fields of one `[prices."model"]` table, gathered line by line before they make a ``ModelPrice``.
    struct PendingPrice {
        /// USD per million tokens: `input` and `output` (both required), `cached_input` (prompt tokens read from
        /// the provider's cache) and `cache_write` (prompt tokens written to it), which default to the input price.
        static let fields: Set<String> = ["input", "output", "cached_input", "cache_write"]
        /// The line of the table's first field, for messages.
        var line: Int
        var values: [String: Double] = [:]
    }
}
