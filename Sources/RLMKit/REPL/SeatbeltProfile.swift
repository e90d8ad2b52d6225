import Foundation

/// The macOS `strict` policy, written as a Seatbelt (sandbox-exec) profile.
///
/// It is plain text built from the launch, so it is compiled and tested on every platform; only
/// ``SeatbeltSandbox``, which hands it to `/usr/bin/sandbox-exec`, is macOS-only.
struct SeatbeltProfile: Sendable {
    /// Folders of the operating system the interpreter needs to read (libraries, frameworks, time zones).
    static let systemReadPaths = ["/usr", "/bin", "/System", "/Library/Frameworks", "/private/etc", "/private/var/db/timezone",
                                  "/dev/null", "/dev/urandom", "/dev/random", "/dev/zero"]

    var readOnlyPaths: [String]
    var scratchDirectory: String
    var channelDirectory: String
    var hiddenPaths: [String]

    init(launch: SandboxLaunch) {
        var readable = Set(launch.interpreter.prefixes)
        readable.insert(URL(fileURLWithPath: launch.interpreter.executable).deletingLastPathComponent().path)
        readable.formUnion(launch.readOnlyPaths)
        readable.insert(launch.channelDirectory)
        self.readOnlyPaths = readable.sorted()
        self.scratchDirectory = launch.hostScratchDirectory
        self.channelDirectory = launch.channelDirectory
        self.hiddenPaths = launch.hiddenPaths
    }

    /// The profile: everything denied, then reads of the system, the interpreter, the context and the
    /// channel folder; writes to the scratch folder only; no network but the host's Unix socket.
    var text: String {
        let reads = (Self.systemReadPaths + readOnlyPaths).map { "    (subpath \(Self.quoted($0)))" }
        return """
            (version 1)
            (deny default)
            (allow process-fork)
            (allow process-exec)
            (allow signal (target same-sandbox))
            (allow sysctl-read)
            (allow file-read-metadata)
            (allow file-read*
            \(reads.joined(separator: "\n"))
                (subpath \(Self.quoted(scratchDirectory))))
            \(hiddenPaths.map { "(deny file-read* (subpath \(Self.quoted($0))))" }.joined(separator: "\n"))
            (allow file-write* (subpath \(Self.quoted(scratchDirectory))) (literal "/dev/null"))
            (allow network-outbound (remote unix-socket (subpath \(Self.quoted(channelDirectory)))))
            (allow mach-lookup (global-name "com.apple.system.opendirectoryd.libinfo"))
            """
    }

    /// A string literal in the profile language, whatever the path holds.
    static func quoted(_ path: String) -> String {
        var escaped = ""
        for character in path {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            default: escaped.append(character)
            }
        }
        return "\"\(escaped)\""
    }
}
