import Foundation
import Synchronization

/// How the simulator plays the providers' prompt caches, so that the client's accounting of cached tokens can be
/// driven over the real wires.
public enum SimulatedPromptCaching: Sendable, Equatable {
    /// No cache: replies report no cached tokens (the default).
    case off
    /// The providers' rules: OpenAI's automatic cache on `/chat/completions` (prompts of 1,024 tokens or more,
    /// the longest prefix seen before, in steps of 128 tokens) and Anthropic's breakpoints on `/v1/messages`
    /// (reads up to the longest prefix a breakpoint wrote before, writes from there to the last breakpoint).
    case providers
}

/// Cached and written prompt tokens of one simulated request.
public struct SimulatedCacheUsage: Sendable, Equatable {
    public var readTokens = 0
    public var writtenTokens = 0
    /// The part of `writtenTokens` written with the one-hour lifetime.
    public var writtenOneHourTokens = 0
}

/// The prefixes a simulated provider holds in its prompt cache, per model. Prompts are counted as the simulator
/// counts them everywhere: four characters a token, message by message.
final class PromptCacheEmulator: Sendable {
    /// Tokens OpenAI needs before it caches a prompt, and the step its cached prefixes grow by.
    static let openAIMinimumTokens = 1_024
    static let openAIStepTokens = 128

    private struct State {
        /// Every prompt seen on the OpenAI route, by model, as message texts.
        var openAIPrompts: [String: [[String]]] = [:]
        /// Digests of the prefixes Anthropic breakpoints wrote, by model, with their length in tokens.
        var anthropicPrefixes: [String: Set<Int>] = [:]
    }
    private let state = Mutex(State())

    /// What the provider would report for `request`, and what it now holds.
    func observe(_ request: SimulatedRequest) -> SimulatedCacheUsage {
        request.isAnthropic ? observeAnthropic(request) : observeOpenAI(request)
    }

    private static func tokens(_ text: String) -> Int { text.count / 4 }

    /// The longest prefix shared with any earlier prompt of the model, counted only above 1,024 tokens and in
    /// steps of 128.
    private func observeOpenAI(_ request: SimulatedRequest) -> SimulatedCacheUsage {
        let texts = request.messages.map { $0.role + "\u{1}" + $0.content }
        let promptTokens = request.messages.reduce(0) { $0 + Self.tokens($1.content) }
        let longest = state.withLock { state -> Int in
            let earlier = state.openAIPrompts[request.model, default: []]
            state.openAIPrompts[request.model, default: []].append(texts)
            return earlier.map { Self.sharedTokens(texts, $0, contents: request.messages.map(\.content)) }.max() ?? 0
        }
        guard promptTokens >= Self.openAIMinimumTokens else { return SimulatedCacheUsage() }
        let cached = min(longest, promptTokens) / Self.openAIStepTokens * Self.openAIStepTokens
        return SimulatedCacheUsage(readTokens: cached >= Self.openAIMinimumTokens ? cached : 0)
    }

    /// Tokens of the prefix `texts` shares with `earlier`: whole messages, then the common start of the first that
    /// differs (in the same role).
    private static func sharedTokens(_ texts: [String], _ earlier: [String], contents: [String]) -> Int {
        var total = 0
        for (index, text) in texts.enumerated() {
            guard index < earlier.count else { break }
            if text == earlier[index] {
                total += tokens(contents[index])
                continue
            }
            let role = text.prefix { $0 != "\u{1}" }
            guard earlier[index].hasPrefix(role + "\u{1}") else { break }
            let common = zip(text, earlier[index]).prefix { $0 == $1 }.count - role.count - 1
            total += max(0, common) / 4
            break
        }
        return total
    }

    /// Anthropic's rule: each breakpoint (a block marked `cache_control`) whose prefix holds enough tokens writes
    /// that prefix; a request reads the longest prefix, ending at a block boundary up to its last breakpoint, that
    /// an earlier breakpoint wrote, and pays a write for the tokens from there to its last breakpoint.
    private func observeAnthropic(_ request: SimulatedRequest) -> SimulatedCacheUsage {
        let minimum = Self.anthropicMinimumTokens(model: request.model)
        var boundaries: [(digest: Int, tokens: Int, ttl: String?)] = []
        var hasher = Hasher()
        var running = 0
        for message in request.messages {
            hasher.combine(message.role)
            hasher.combine(message.content)
            running += Self.tokens(message.content)
            boundaries.append((hasher.finalize(), running, message.cacheTTL))  // finalize consumes a copy
        }
        guard let last = boundaries.lastIndex(where: { $0.ttl != nil && $0.tokens >= minimum }) else {
            return SimulatedCacheUsage()
        }
        return state.withLock { state in
            let held = state.anthropicPrefixes[request.model, default: []]
            let read = boundaries[...last].last { held.contains($0.digest) }?.tokens ?? 0
            var usage = SimulatedCacheUsage(readTokens: read)
            var written = read
            for boundary in boundaries[...last] where boundary.ttl != nil && boundary.tokens >= minimum {
                state.anthropicPrefixes[request.model, default: []].insert(boundary.digest)
                guard boundary.tokens > written else { continue }
                usage.writtenTokens += boundary.tokens - written
                if boundary.ttl == "1h" { usage.writtenOneHourTokens += boundary.tokens - written }
                written = boundary.tokens
            }
            return usage
        }
    }

    /// Anthropic's smallest cacheable prompt: 4,096 tokens for Haiku 4.5 and Opus 4.5 and later, 2,048 for older
    /// Haiku models, 1,024 for the rest.
    static func anthropicMinimumTokens(model: String) -> Int {
        let name = model.lowercased()
        if name.contains("haiku-4") || name.contains("opus-4-5") || name.contains("opus-4-6") { return 4_096 }
        return name.contains("haiku") ? 2_048 : 1_024
    }
}

extension SimulatedCacheUsage {
    /// OpenAI's report: `prompt_tokens` counts the cached tokens too.
    func openAIFields(promptTokens: Int) -> [String: Any] {
        ["prompt_tokens_details": ["cached_tokens": min(readTokens, promptTokens)]]
    }

    /// Anthropic's report: `input_tokens` leaves out what was read from or written to the cache.
    func anthropicFields(promptTokens: Int) -> [String: Any] {
        let read = min(readTokens, promptTokens)
        let written = min(writtenTokens, promptTokens - read)
        let oneHour = min(writtenOneHourTokens, written)
        return ["input_tokens": promptTokens - read - written, "cache_read_input_tokens": read,
                "cache_creation_input_tokens": written,
                "cache_creation": ["ephemeral_5m_input_tokens": written - oneHour, "ephemeral_1h_input_tokens": oneHour]]
    }
}
