import Foundation
import Testing
@testable import RLMKit

/// The macOS policy text: built on every platform, so what it allows is checked here even though
/// `sandbox-exec` itself only runs on macOS.
struct SeatbeltProfileTests {
    let launch = SandboxLaunch(
        interpreter: PythonInterpreter(executable: "/opt/py/bin/python3.12", version: "3.12.1", prefixes: ["/opt/py"]),
        driverPath: "/tmp/rlm-x/rlm_driver.py", channelDirectory: "/tmp/rlm-x",
        hostScratchDirectory: "/tmp/rlm-x/scratch", readOnlyPaths: ["/Users/me/data/notes \"v2\".txt"],
        limits: REPLResourceLimits())

    /// The forms of the profile, split at top level, with string literals intact.
    func forms(_ text: String) throws -> [String] {
        var forms: [String] = [], current = "", depth = 0, inString = false, escaped = false
        for character in text {
            if depth > 0 { current.append(character) }
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true
            case "(":
                if depth == 0 { current = "(" }
                depth += 1
            case ")":
                depth -= 1
                try #require(depth >= 0, "a ')' closes nothing")
                if depth == 0 { forms.append(current) }
            default: break
            }
        }
        try #require(depth == 0 && !inString, "unbalanced profile")
        return forms
    }

    @Test func deniesEverythingNotListed() throws {
        let forms = try forms(SeatbeltProfile(launch: launch).text)
        #expect(forms.first == "(version 1)")
        #expect(forms[1] == "(deny default)")
        #expect(!forms.contains { $0.hasPrefix("(allow network") && !$0.contains("unix-socket") })
        #expect(!forms.contains { $0.hasPrefix("(allow file-read*") && $0.contains("(subpath \"/Users\")") })
    }

    @Test func readsTheInterpreterAndContextButWritesOnlyScratch() throws {
        let forms = try forms(SeatbeltProfile(launch: launch).text)
        let reads = try #require(forms.first { $0.hasPrefix("(allow file-read*") })
        let writes = try #require(forms.first { $0.hasPrefix("(allow file-write*") })
        for path in ["/opt/py", "/opt/py/bin", "/tmp/rlm-x", "/tmp/rlm-x/scratch", "/usr", "/System"] {
            #expect(reads.contains("(subpath \"\(path)\")"), "\(path) should be readable")
        }
        #expect(reads.contains(#"(subpath "/Users/me/data/notes \"v2\".txt")"#))
        #expect(writes.contains("(subpath \"/tmp/rlm-x/scratch\")"))
        #expect(!writes.contains("/Users/me"))
        #expect(!writes.contains("(subpath \"/tmp/rlm-x\")"))
    }

    @Test func quotingSurvivesHostilePaths() {
        #expect(SeatbeltProfile.quoted(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(SeatbeltProfile.quoted("/x) (allow default") == "\"/x) (allow default\"")
    }
}

/// How the REPL's process count is capped for each user and sandbox.
@Suite struct ProcessCapPolicyTests {
    @Test func anOrdinaryUsersOtherThreadsAreNotCountedAgainstTheSandbox() {
        let basic = ProcessCapPolicy(level: .basic, countsPerUserNamespace: false, hasCgroup: false, cap: 128,
                                     userTasks: { 900 }, isRoot: false)
        #expect(basic == ProcessCapPolicy(rlimit: 900 + 256, watch: 128))
        let strict = ProcessCapPolicy(level: .strict, countsPerUserNamespace: true, hasCgroup: false, cap: 128,
                                      userTasks: { 900 }, isRoot: false)
        #expect(strict == ProcessCapPolicy(rlimit: 128, watch: nil))
        let oldKernel = ProcessCapPolicy(level: .strict, countsPerUserNamespace: false, hasCgroup: false, cap: 128,
                                         userTasks: { 900 }, isRoot: false)
        #expect(oldKernel == ProcessCapPolicy(rlimit: 900 + 256, watch: 128))
        #expect(ProcessCapPolicy(level: .none, countsPerUserNamespace: true, hasCgroup: true, cap: 128, isRoot: false)
                == ProcessCapPolicy(rlimit: nil, watch: nil))
        #expect(ProcessCapPolicy(level: .basic, countsPerUserNamespace: false, hasCgroup: true, cap: 128, isRoot: true)
                == ProcessCapPolicy(rlimit: 128, watch: nil))
    }

    @Test func aRefusedUserNamespaceSaysHowToAllowIt() {
        let ubuntu = UserNamespacePolicy(apparmorRestricts: true, maxUserNamespaces: 63_000, unprivilegedClone: nil)
        #expect(ubuntu.restriction?.contains("kernel.apparmor_restrict_unprivileged_userns=0") == true)
        let off = UserNamespacePolicy(apparmorRestricts: false, maxUserNamespaces: 0, unprivilegedClone: nil)
        #expect(off.restriction?.contains("user.max_user_namespaces=15000") == true)
        let debian = UserNamespacePolicy(apparmorRestricts: false, maxUserNamespaces: 100, unprivilegedClone: false)
        #expect(debian.restriction?.contains("kernel.unprivileged_userns_clone=1") == true)
        #expect(UserNamespacePolicy(apparmorRestricts: false, maxUserNamespaces: 100, unprivilegedClone: true).restriction == nil)
    }
}
