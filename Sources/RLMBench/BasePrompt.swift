import Foundation
import RLMKit

/// The base model's prompt: the question, then the input itself, cut to the window with a note of the cut.
public enum BasePrompt {
    public static let system = "You answer a question about the input given in the message. Reply with the answer only."

    /// The prompt and whether the input was cut. `windowTokens` bounds the input part (about 4 characters a token).
    public static func make(_ task: BenchTask, windowTokens: Int) -> (prompt: String, truncated: Bool) {
        let budget = max(windowTokens, 1) * benchCharsPerToken
        let (input, total) = inputText(task.context, limit: budget)
        let truncated = total > input.count
        let note = truncated
            ? "[The input was cut to its first \(input.count) of \(total) characters to fit the model's window.]\n"
            : ""
        let prompt = "Question: \(task.question)\n\n\(note)--- input ---\n\(input)\n--- end of input ---\n\n"
            + "Question (again): \(task.question)"
        return (prompt, truncated)
    }

    /// At most `limit` characters of the input, and the input's whole length (a folder is written as
    /// `=== path ===` headers and file texts, in path order).
    static func inputText(_ context: BenchContext, limit: Int) -> (text: String, total: Int) {
        switch context {
        case .text(let text):
            return (String(text.prefix(limit)), text.count)
        case .directory(let path):
            var text = ""
            var (used, total) = (0, 0)
            for (key, content) in folderTexts(URL(fileURLWithPath: path)) {
                let part = "=== \(key) ===\n\(content)\n"
                total += part.count
                guard used < limit else { continue }
                let piece = part.prefix(limit - used)
                text += piece
                used += piece.count
            }
            return (text, total)
        }
    }

    /// The text files under `root` as (relative path, text), sorted by path, found by the walker a directory
    /// context uses (so the same folders are left out); binary files are left out.
    static func folderTexts(_ root: URL) -> [(String, String)] {
        guard let listing = try? DirectoryListing.walk(root) else { return [] }
        return zip(listing.relativePaths, listing.relativePaths.map { listing.root + "/" + $0 }).compactMap { key, path in
            guard let data = FileManager.default.contents(atPath: path), !data.prefix(8192).contains(0) else { return nil }
            return (key, String(decoding: data, as: UTF8.self))
        }
    }
}
