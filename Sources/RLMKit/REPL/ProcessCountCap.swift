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

/// How the REPL's process count is capped, given what this machine offers.
///
/// `RLIMIT_NPROC` counts every process and thread of the user, not only the sandbox's: for a user with a desktop
/// session it would make even the driver's first thread fail. So it is used as the exact cap only where it counts
/// the sandbox alone (a fresh user namespace on Linux 5.14 and later); elsewhere it is set with headroom above
/// what the user already runs, and the driver enforces the cap on its own processes with a watch.
struct ProcessCapPolicy: Sendable, Equatable {
    /// The `RLIMIT_NPROC` the driver sets; nil sets none.
    var rlimit: Int?
    /// The cap the driver's watch enforces on its own threads and child processes; nil runs no watch.
    var watch: Int?

    init(level: SandboxLevel, countsPerUserNamespace: Bool, hasCgroup: Bool, cap: Int,
         userTasks: () -> Int = { currentUserTaskCount() }, isRoot: Bool = getuid() == 0) {
        if level == .none {
            (rlimit, watch) = (nil, nil)
        } else if isRoot {
            // Root is not bound by RLIMIT_NPROC; the pids cgroup caps the sandbox where one can be made.
            (rlimit, watch) = (cap, hasCgroup ? nil : cap)
        } else if level == .strict && countsPerUserNamespace {
            (rlimit, watch) = (cap, nil)
        } else {
            (rlimit, watch) = (userTasks() + 2 * cap, cap)
        }
    }

    init(rlimit: Int?, watch: Int?) {
        self.rlimit = rlimit
        self.watch = watch
    }
}

/// Processes and threads that this process's real user runs now (what `RLIMIT_NPROC` counts).
func currentUserTaskCount() -> Int {
    let uid = getuid()
    var total = 0
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries where entry.first?.isNumber == true {
        guard let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8) else { continue }
        var owner: UInt32?
        var threads = 1
        for line in status.split(separator: "\n") {
            if line.hasPrefix("Uid:") {
                owner = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
            } else if line.hasPrefix("Threads:") {
                threads = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { Int($0) } ?? 1
            }
        }
        if owner == uid { total += threads }
    }
    return total
}

/// True when this kernel counts `RLIMIT_NPROC` per user namespace (Linux 5.14 and later), so a sandbox in its own
/// user namespace is capped without counting the user's other processes.
func kernelCountsProcessesPerUserNamespace() -> Bool {
    #if os(Linux)
    var name = utsname()
    guard uname(&name) == 0 else { return false }
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard parts.count == 2 else { return false }
    return parts[0] > 5 || (parts[0] == 5 && parts[1] >= 14)
    #else
    return false
    #endif
}
