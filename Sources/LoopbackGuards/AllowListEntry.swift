import Foundation

/// Checks the values of `--cors-origin` and `--allowed-host` before a server starts, so that a typo is an error
/// naming the flag instead of a rule that never matches.
public enum AllowListEntry {
    /// Nil when `origin` can be on the allow-list (`scheme://host[:port]`, no path); else what is wrong with it.
    public static func problem(withOrigin origin: String) -> String? {
        let value = normalizedOrigin(origin)
        guard let schemeEnd = value.range(of: "://"), ["http", "https"].contains(value[..<schemeEnd.lowerBound]) else {
            return "--cors-origin \(origin) is not an origin: write the scheme, host and port a browser shows, such as http://localhost:3000."
        }
        let rest = value[schemeEnd.upperBound...]
        if rest.isEmpty || rest.contains(where: { "/?#*@ ".contains($0) }) {
            return "--cors-origin \(origin) is not an origin: give only the scheme, host and port (no path, no wildcard), such as http://localhost:3000."
        }
        return nil
    }

    /// Nil when `name` can be on the Host allow-list (a host name or address, no scheme, path or port); else what is
    /// wrong with it.
    public static func problem(withHost name: String) -> String? {
        let valid = !name.isEmpty && (name.hasPrefix("[") ? name.hasSuffix("]") : !name.contains(":"))
            && !name.contains(where: { "/?#@ ".contains($0) })
        return valid ? nil : "--allowed-host takes a host name or address such as myhost.local (no scheme, port or path), not '\(name)'."
    }

    /// Scheme and host in lower case, without a trailing slash.
    static func normalizedOrigin(_ origin: String) -> String {
        var value = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }
}
