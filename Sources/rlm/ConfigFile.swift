import Foundation
import RLMKit

/// Settings from `rlm.toml` (in the working directory) or `~/.config/rlm/config.toml`: the lowest layer under
/// environment variables and flags.
///
/// ```toml
/// base_url = "http://127.0.0.1:8080/v1"
/// model = "qwen3-8b"
/// sub_model = "qwen3-1.7b"
///
/// [prices."qwen3-8b"]      # USD per million tokens
/// input = 0.05
/// output = 0.20
/// ```
///
/// Only the TOML this needs is read: `[table]` headers (dotted, quoted keys allowed), `key = value` with
/// strings, numbers and booleans, and comments. The one TOML package on this machine's mirror cannot be
/// resolved (it depends on a package the mirror lacks), so this small reader stands in for it.
struct ConfigFile {
    /// Top-level keys, such as `model` or `base_url`.
    var settings: [String: String] = [:]
    var prices: [String: ModelPrice] = [:]
    var path: String?

    static let keys: Set<String> = ["provider", "base_url", "api_key_env", "model", "sub_model", "sub_base_url",
                                    "sub_provider", "sub_api_key_env"]

    /// The first config file that exists, parsed; an empty configuration when there is none.
    static func load(environment: [String: String]) throws -> ConfigFile {
        var candidates = ["rlm.toml"]
        if let explicit = environment["RLM_CONFIG"] { candidates.insert(explicit, at: 0) }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        candidates.append(environment["XDG_CONFIG_HOME"].map { "\($0)/rlm/config.toml" } ?? "\(home)/.config/rlm/config.toml")
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIFailure.configuration("the config file \(path) cannot be read. Check its permissions.")
            }
            var config = try parse(text, path: path)
            config.path = path
            return config
        }
        return ConfigFile()
    }

    static func parse(_ text: String, path: String) throws -> ConfigFile {
        var config = ConfigFile()
        var table: [String] = []
        var pendingPrices: [String: (input: Double?, output: Double?)] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = stripComment(String(rawLine)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func fail(_ message: String) -> CLIFailure {
                .configuration("\(path):\(number + 1): \(message). Fix the config file (see README: Configuration).")
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), !line.hasPrefix("[[") else { throw fail("a table header must look like [name]") }
                table = try splitKey(String(line.dropFirst().dropLast()), fail: fail)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw fail("expected key = value") }
            let key = try splitKey(String(line[..<equals]), fail: fail)
            let value = try parseValue(String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces), fail: fail)
            let full = table + key
            if full.count == 1, keys.contains(full[0]) {
                config.settings[full[0]] = value
            } else if full.count == 3, full[0] == "prices", ["input", "output"].contains(full[2]) {
                guard let number = Double(value), number >= 0 else { throw fail("prices must be non-negative numbers (USD per million tokens)") }
                if full[2] == "input" { pendingPrices[full[1], default: (nil, nil)].input = number }
                else { pendingPrices[full[1], default: (nil, nil)].output = number }
            } else {
                throw fail("unknown setting '\(full.joined(separator: "."))' (known: \(keys.sorted().joined(separator: ", ")), [prices.\"model\"] input/output)")
            }
        }
        for (model, price) in pendingPrices {
            guard let input = price.input, let output = price.output else {
                throw CLIFailure.configuration("\(path): [prices.\"\(model)\"] needs both input and output (USD per million tokens).")
            }
            config.prices[model] = ModelPrice(inputPerMillion: input, outputPerMillion: output)
        }
        return config
    }

    private static func stripComment(_ line: String) -> String {
        var quote: Character?
        for (offset, character) in line.enumerated() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" {
                return String(line.prefix(offset))
            }
        }
        return line
    }

    private static func splitKey(_ key: String, fail: (String) -> CLIFailure) throws -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        for character in key.trimmingCharacters(in: .whitespaces) {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "." {
                parts.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        guard quote == nil else { throw fail("unterminated quote in a key") }
        parts.append(current.trimmingCharacters(in: .whitespaces))
        guard !parts.contains(where: \.isEmpty) else { throw fail("empty key") }
        return parts
    }

    private static func parseValue(_ raw: String, fail: (String) -> CLIFailure) throws -> String {
        for quote in ["\"", "'"] where raw.hasPrefix(quote) {
            guard raw.count >= 2, raw.hasSuffix(quote) else { throw fail("unterminated string") }
            return String(raw.dropFirst().dropLast())
        }
        if raw == "true" || raw == "false" || Double(raw.replacingOccurrences(of: "_", with: "")) != nil {
            return raw.replacingOccurrences(of: "_", with: "")
        }
        throw fail("values must be quoted strings, numbers or booleans")
    }
}
