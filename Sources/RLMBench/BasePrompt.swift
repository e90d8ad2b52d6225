import Foundation

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

    /// The text files under `root` as (relative path, text), sorted by path; binary files are left out.
    static func folderTexts(_ root: URL) -> [(String, String)] {
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        var files: [(String, String)] = []
        let prefix = root.standardizedFileURL.path + "/"
        while let url = walker?.nextObject() as? URL {
            if [".git", ".build", "node_modules"].contains(url.lastPathComponent) { walker?.skipDescendants(); continue }
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true,
                  let data = FileManager.default.contents(atPath: url.path), !data.prefix(8192).contains(0) else { continue }
            let path = url.standardizedFileURL.path
            files.append((path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path, String(decoding: data, as: UTF8.self)))
        }
        return files.sorted { $0.0 < $1.0 }
    }
}
