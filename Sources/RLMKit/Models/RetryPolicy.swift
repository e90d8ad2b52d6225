import Foundation

/// When and how often a failed model request is tried again.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int
    /// Attempts for a connection that could not be made at all (a wrong port should fail fast).
    public var maxConnectionAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Longest `Retry-After` honoured; a server asking for more fails the request instead.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 5, maxConnectionAttempts: Int = 3, baseDelay: Duration = .milliseconds(500),
                maxDelay: Duration = .seconds(30), maxRetryAfter: Duration = .seconds(120)) {
        self.maxAttempts = max(1, maxAttempts)
        self.maxConnectionAttempts = max(1, maxConnectionAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    public static let standard = RetryPolicy()
    public static let none = RetryPolicy(maxAttempts: 1, maxConnectionAttempts: 1)

    /// Statuses worth another try: timeouts, rate limits, overload and server faults.
    static func isRetryable(status: Int) -> Bool {
        [408, 409, 425, 429, 500, 502, 503, 504, 529].contains(status)
    }

    /// Exponential backoff with jitter (half to all of the doubled delay), or what `Retry-After` asks for.
    func delay(attempt: Int, retryAfter: String?) -> Duration? {
        if let retryAfter, let wait = Self.parseRetryAfter(retryAfter) {
            return wait <= maxRetryAfter ? wait : nil
        }
        let doubled = baseDelay * (1 << min(attempt - 1, 16))
        let capped = min(doubled, maxDelay)
        return capped * Double.random(in: 0.5...1.0)
    }

    /// `Retry-After` is either seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return .milliseconds(Int64(max(0, seconds) * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}
