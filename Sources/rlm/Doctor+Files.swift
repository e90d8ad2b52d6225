import Foundation
import RLMKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Doctor {
    // MARK: Config files

    /// The config files a run in this folder reads, whether the project's file is trusted, and the layered
    /// configuration (nil when it does not load, as a run would then stop).
    static func configCheck(environment: [String: String]) -> (DoctorCheck, ConfigFile?) {
        let user = ConfigSources.userFile(environment: environment)
        var found: [String] = []
        if FileManager.default.fileExists(atPath: user.path) {
            found.append("\(user.path) (yours\(user.named ? ", named by RLM_CONFIG" : ""), trusted)")
        }
        let projectPath = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(ConfigSources.projectFileName).path
        if FileManager.default.fileExists(atPath: projectPath),
           TrustStore.canonicalPath(projectPath) != TrustStore.canonicalPath(user.path) {
            found.append("\(projectPath) (the project's, \(projectStanding(projectPath, environment: environment)))")
        }
        do {
            let config = try ConfigSources.load(environment: environment)
            let detail = found.isEmpty
                ? "none (looked for \(user.path) and ./\(ConfigSources.projectFileName)); flags and environment variables only"
                : found.joined(separator: "; ")
            return (.ok("config", detail), config)
        } catch let failure as CLIFailure {
            let fix = failure.message.contains("rlm trust")
                ? "Review the file, then run `rlm trust \(ConfigSources.projectFileName)` in this folder, or remove its endpoint and tool settings."
                : "Fix or remove the file named above (or unset RLM_CONFIG)."
            return (.problem("config", failure.message, fix: fix), nil)
        } catch {
            return (.problem("config", "\(error)", fix: "Fix or remove the config file named above."), nil)
        }
    }

    /// Whether the project's file is trusted, and whether it needs to be (only endpoints, key variables and
    /// tools need trust).
    static func projectStanding(_ path: String, environment: [String: String]) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "unreadable" }
        let standing = (try? TrustStore.load(environment: environment))?
            .standing(ofPath: TrustStore.canonicalPath(path), sha256: ContentDigest.sha256Hex(of: data)) ?? .unknown
        let needsTrust = (try? ConfigFile.parse(String(decoding: data, as: UTF8.self), path: path))
            .map { !($0.endpointKeysSet + $0.toolKeysSet).isEmpty } ?? false
        switch standing {
        case .trusted: return "trusted"
        case .changedSince(let date): return "changed since you trusted it (\(date))" + (needsTrust ? "" : "; it sets nothing that needs trust")
        case .unknown: return needsTrust ? "not trusted" : "not trusted; it sets nothing that needs trust"
        }
    }

    // MARK: Log and cache folders

    /// The default log folder (`$XDG_CACHE_HOME/rlm/runs`, else `~/.cache/rlm/runs`) and the cache folder above it:
    /// writable, and private (folders 0700, files 0600) since logs hold the run's data.
    static func folderChecks(environment: [String: String]) -> [DoctorCheck] {
        let logFolder = URL(fileURLWithPath: Ask.defaultLogPath(environment: environment)).deletingLastPathComponent()
        return [folderCheck(name: "cache-folder", logFolder.deletingLastPathComponent().path, listFiles: false),
                folderCheck(name: "log-folder", logFolder.path, listFiles: true)]
    }

    static func folderCheck(name: String, _ path: String, listFiles: Bool) -> DoctorCheck {
        let unwritable = "Make it writable, set XDG_CACHE_HOME to a writable folder, or pass --log PATH (or --no-log) to each run."
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            var ancestor = (path as NSString).deletingLastPathComponent
            while !FileManager.default.fileExists(atPath: ancestor), ancestor != "/" {
                ancestor = (ancestor as NSString).deletingLastPathComponent
            }
            guard access(ancestor, W_OK | X_OK) == 0 else {
                return .problem(name, "\(path) does not exist and cannot be created: \(ancestor) is not writable.", fix: unwritable)
            }
            return .ok(name, "\(path) does not exist yet; the first run creates it private (0700).")
        }
        guard attributes[.type] as? FileAttributeType == .typeDirectory else {
            return .problem(name, "\(path) is not a folder.", fix: "Move it away. " + unwritable)
        }
        guard access(path, W_OK | X_OK) == 0 else {
            return .problem(name, "\(path) is not writable.", fix: unwritable)
        }
        let mode = (attributes[.posixPermissions] as? Int ?? 0) & 0o777
        var findings: [String] = []
        var fixes: [String] = []
        if let owner = attributes[.ownerAccountID] as? Int, owner != Int(getuid()) {
            findings.append("it belongs to uid \(owner), not you")
            fixes.append("give it to yourself (`chown`)")
        }
        if mode & 0o077 != 0 {
            findings.append("its mode is \(String(mode, radix: 8)), so others can \(mode & 0o004 != 0 ? "list" : "enter") it")
            fixes.append("`chmod 700 \(path)`")
        }
        if listFiles {
            let exposed = exposedFiles(in: path)
            if !exposed.isEmpty {
                let names = exposed.prefix(3).joined(separator: ", ") + (exposed.count > 3 ? ", …" : "")
                findings.append("\(exposed.count) file\(exposed.count == 1 ? " is" : "s are") readable by others (\(names))")
                fixes.append("`chmod 600` \(exposed.count == 1 ? "it" : "them")")
            }
        }
        guard findings.isEmpty else {
            return .warning(name, "\(path): " + findings.joined(separator: "; ") + ". Trajectory logs hold the input and the model's replies.",
                            fix: fixes.joined(separator: ", then ") + ". rlm keeps what it creates private (folders 0700, files 0600) but leaves existing ones as they are.")
        }
        return .ok(name, "\(path) (private, \(String(mode, radix: 8)))")
    }

    /// Files directly in `folder` that others may read or write.
    static func exposedFiles(in folder: String) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return names.filter { name in
            var info = stat()
            guard lstat(folder + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
            return info.st_mode & 0o077 != 0
        }
    }
}
