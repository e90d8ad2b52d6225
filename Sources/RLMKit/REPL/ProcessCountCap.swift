import Foundation

/// A pids cgroup that caps how many processes the sandbox may hold at once, whatever user it runs as
/// (RLIMIT_NPROC does not bind a process whose real user is root, as it is under bubblewrap run by root).
/// Used when this process may create cgroups; otherwise the rlimit is the only cap.
///
/// It also tells when every process of a killed interpreter is really gone: a fork bomb leaves the group
/// full for a while after its namespace is killed, and a successor started into a full group cannot fork.
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

    /// The processes in the group now.
    func members() -> [pid_t] {
        guard let text = try? String(contentsOfFile: procsFile, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { pid_t($0) }
    }

    /// Kills every process in the group, wherever it moved in the process tree.
    func killMembers() {
        let killFile = directory + "/cgroup.kill"  // cgroup v2 kills the whole group in one write
        if FileManager.default.fileExists(atPath: killFile),
           (try? "1".write(toFile: killFile, atomically: false, encoding: .utf8)) != nil {
            return
        }
        for pid in members() where pid > 1 { kill(pid, SIGKILL) }
    }

    /// Kills the group's processes until none is left or `timeout` passes; true when it is empty.
    func drain(timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if members().isEmpty { return true }
            if ContinuousClock.now >= deadline { return false }
            killMembers()
            // Detached so that it still waits when the caller is being cancelled.
            await Task.detached { try? await Task.sleep(for: .milliseconds(20)) }.value
        }
    }

    /// Removes the cgroup once its processes are gone.
    func remove() async {
        _ = await drain()
        rmdir(directory)
    }
}
