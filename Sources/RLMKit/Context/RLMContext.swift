import Foundation

/// The input an RLM answers questions about. It is handed to the REPL as the variable `context`
/// and never sent to the root model.
public enum RLMContext: Sendable {
    /// Text held in memory; becomes a `str`.
    case text(String)
    /// A file: a `str`, or the parsed value for a `.json` file (`list` or `dict`).
    case file(URL)
    /// A directory: a `dict` of relative path to file text.
    case directory(URL)
    /// Chosen files (for example a glob's matches): a `dict` of path (relative to `root`) to text.
    case files([URL], root: URL)
    /// A JSON document: its parsed value.
    case json(Data)
    /// Files read once into a private file, as a ``ContextSnapshot`` holds them (its shape is that of `file` or
    /// `files`), whatever the files on disk have become since.
    case snapshot(ContextSnapshot)
}

/// The context written out as a file the REPL driver loads.
public struct PreparedContext: Sendable {
    public enum Format: String, Sendable {
        case text
        /// Parsed as JSON; the driver fails clearly when it is not.
        case json
        /// Parsed as JSON when it is, else kept as text.
        case autoJSON = "auto_json"
        /// A list of files under a root folder, which the driver reads itself into `{relative path: text}`.
        case manifest
    }
    public var path: String
    public var format: Format
    /// Things said about the input while preparing it (skipped binary files…).
    public var notes: [String]
    /// A file made for this run, removed with it.
    public var isTemporary: Bool
    /// Paths the REPL must be able to read, besides `path`: the root folder of a manifest.
    public var extraReadablePaths: [String] = []
    /// Folders under a readable path that the strict sandbox hides (version-control internals).
    public var hiddenPaths: [String] = []
    /// Bytes of input behind the prepared file, when that is more than the file itself (a manifest).
    public var contentBytes: Int?
    /// The snapshot whose file `path` is, kept alive while this value is: a REPL that restarts loads it again.
    var snapshot: ContextSnapshot?
}

/// A context that cannot be used, with what to do about it.
public struct ContextError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// The input file that could not be read, when that is the cause (relative to the context's root).
    public var unreadablePath: String?
    public var description: String { message }

    public init(message: String, unreadablePath: String? = nil) {
        self.message = message
        self.unreadablePath = unreadablePath
    }
}

extension RLMContext {
    /// Folder names a directory context leaves out (version-control and build internals); ``DirectoryListing``
    /// leaves them out wherever a folder is walked.
    public static var skippedDirectoryNames: Set<String> { ContextPreparer.skippedDirectories }
}
