import Foundation

/// A pids cgroup that caps how many processes the sandbox may hold at once, whatever user it runs as
/// (RLIMIT_NPROC does not bind a process whose real user is root, as it is under bubblewrap run by root).
/// Used when this process may create cgroups; otherwise the rlimit is the only cap.
struct ProcessCountCap: Sendable {
    /// The file a process writes its pid to in order to join.
    let procsFile: String
    let directory: String

    /// Creates a cgroup limited to `maxProcesses`, or nil when cgroups cannot be managed here.
    static func make(maxProcesses: Int) -> ProcessCountCap? {
        let name = "rlm-\(getpid())-\(UUID().uuidString.prefix(8))"
        for root in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
            let isV2 = root == "/sys/fs/cgroup"
            if isV2 {
                guard let controllers = try? String(contentsOfFile: root + "/cgroup.subtree_control", encoding: .utf8),
                      controllers.contains("pids") else { continue }
            }
            guard FileManager.default.isWritableFile(atPath: root) else { continue }
            let directory = root + "/" + name
            guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)) != nil else { continue }
            guard (try? String(maxProcesses).write(toFile: directory + "/pids.max", atomically: false, encoding: .utf8)) != nil else {
                try? FileManager.default.removeItem(atPath: directory)
                continue
            }
            return ProcessCountCap(procsFile: directory + "/cgroup.procs", directory: directory)
        }
        return nil
    }

    /// Wraps a command so that it joins the cgroup before it starts (no race with its first fork).
    func wrap(_ command: SandboxCommand) -> SandboxCommand {
        var wrapped = command
        wrapped.executable = "/bin/sh"
        wrapped.arguments = ["-c", "echo $$ > \"$0\" && exec \"$@\"", procsFile, command.executable] + command.arguments
        return wrapped
    }

    /// Removes the cgroup once its processes are gone.
    func remove() {
        rmdir(directory)
    }
}
