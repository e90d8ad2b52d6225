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
            return json((try? JSONEncoder().encode(value)) ?? Data())
        }
        if let named = request.contextPaths { return try paths(named, filesRoot: filesRoot) }
        return text(request.conversationContext())
    }

    /// The files `paths` names under the files root, read into a snapshot.
    static func paths(_ paths: [String], filesRoot: FilesRoot?) throws(APIError) -> ResolvedContext {
        guard let filesRoot else {
            throw .invalidRequest("context_paths needs a server started with --files-root DIR; this one has none. Send the text in context instead.", param: "context_paths")
        }
        let named = try filesRoot.files(for: paths)
        return try files(named.files, root: filesRoot.url, single: named.isSingleFile)
    }

    static func json(_ data: Data) -> ResolvedContext {
        ResolvedContext(context: .json(data), key: digest("json", [data]), bytes: data.count)
    }

    static func text(_ text: String) -> ResolvedContext {
        let data = Data(text.utf8)
        return ResolvedContext(context: .text(text), key: digest("text", [data]), bytes: data.count)
    }

    /// One file keeps its own shape (a `.json` file is parsed); folders and several files become
    /// `{path relative to the root: text}`. The files are read once, into a snapshot that is both hashed and
    /// loaded, so a file that changes meanwhile can never be cached under another content's key.
    static func files(_ urls: [URL], root: URL, single: Bool, scratch: URL = FileManager.default.temporaryDirectory) throws(APIError) -> ResolvedContext {
        let snapshot: ContextSnapshot
        do {
            snapshot = single ? try ContextSnapshot.take(file: urls[0], scratch: scratch)
                              : try ContextSnapshot.take(files: urls, root: root, scratch: scratch)
        } catch let error as ContextError {
            if let path = error.unreadablePath {
                throw APIError(status: .forbidden, message: "the server cannot read \(path) under its files root (permissions).",
                               type: "invalid_request_error", code: "context_path_unreadable", param: "context_paths")
            }
            throw APIError(status: .internalServerError, message: "the server could not read the files: \(error.message)",
                           type: "server_error", code: "context_snapshot_failed", param: "context_paths")
        } catch {
            throw APIError(status: .internalServerError, message: "the server could not read the files: \(error.localizedDescription)",
                           type: "server_error", code: "context_snapshot_failed", param: "context_paths")
        }
        return ResolvedContext(context: .snapshot(snapshot), key: snapshot.digest, bytes: snapshot.contentBytes)
    }

    private static func digest(_ kind: String, _ parts: [Data]) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(kind.utf8))
        for part in parts { hasher.update(data: part) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
