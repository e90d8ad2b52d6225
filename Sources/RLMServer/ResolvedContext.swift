import Crypto
import Foundation
import RLMKit

/// The context of one request, with the SHA-256 of its content that recognises it in the cache.
struct ResolvedContext: Sendable {
    var context: RLMContext
    /// Hex SHA-256 of the kind and content: equal keys mean equal contexts.
    var key: String
    /// Bytes of content, what the context weighs in the cache.
    var bytes: Int

    /// The context a request names: `context`, else `context_paths`, else the conversation before the question.
    static func resolve(_ request: ChatCompletionRequest, filesRoot: FilesRoot?) throws(APIError) -> ResolvedContext {
        if request.context != nil && request.contextPaths != nil {
            throw .invalidRequest("give the context in one way: context or context_paths, not both.", param: "context")
        }
        if let value = request.context {
            if case .string(let string) = value { return text(string) }
            let data = (try? JSONEncoder().encode(value)) ?? Data()
            return ResolvedContext(context: .json(data), key: digest("json", [data]), bytes: data.count)
        }
        if let paths = request.contextPaths {
            guard let filesRoot else {
                throw .invalidRequest("context_paths needs a server started with --files-root DIR; this one has none. Send the text in context instead.", param: "context_paths")
            }
            let named = try filesRoot.files(for: paths)
            return try files(named.files, root: filesRoot.url, single: named.isSingleFile)
        }
        return text(request.conversationContext())
    }

    static func text(_ text: String) -> ResolvedContext {
        let data = Data(text.utf8)
        return ResolvedContext(context: .text(text), key: digest("text", [data]), bytes: data.count)
    }

    /// One file keeps its own shape (a `.json` file is parsed); folders and several files become
    /// `{path relative to the root: text}`.
    static func files(_ urls: [URL], root: URL, single: Bool) throws(APIError) -> ResolvedContext {
        var hasher = SHA256()
        hasher.update(data: Data((single ? "file" : "files").utf8))
        var bytes = 0
        for url in urls {
            let relative = String(url.path.dropFirst(root.path.count)).drop { $0 == "/" }
            hasher.update(data: Data("\u{0}\(relative)\u{0}".utf8))
            guard let handle = FileHandle(forReadingAtPath: url.path) else {
                throw APIError(status: .forbidden, message: "the server cannot read \(relative) under its files root (permissions).",
                               type: "invalid_request_error", code: "context_path_unreadable", param: "context_paths")
            }
            defer { try? handle.close() }
            while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                bytes += chunk.count
            }
        }
        let key = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let context: RLMContext = single ? .file(urls[0]) : .files(urls, root: root)
        return ResolvedContext(context: context, key: key, bytes: bytes)
    }

    private static func digest(_ kind: String, _ parts: [Data]) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(kind.utf8))
        for part in parts { hasher.update(data: part) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
