/// A small, fast random generator whose sequence depends only on its seed (SplitMix64), so that
/// `rlm bench --seed N` builds the same tasks on every machine and every Swift version.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one task: the run's seed mixed with the suite, the size and the task's index.
    public init(seed: UInt64, suite: String, size: Int, index: Int) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in suite.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.init(seed: seed ^ hash ^ (UInt64(size) &* 0x9e37_79b9_7f4a_7c15) ^ (UInt64(index) &* 0xbf58_476d_1ce4_e5b9))
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A whole number in `range`, drawn from this generator (the standard library's own algorithm may change).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// One element of `items`.
    public mutating func pick<T>(_ items: [T]) -> T { items[int(in: 0...(items.count - 1))] }

    /// `items` in a seeded order (Fisher–Yates).
    public mutating func shuffled<T>(_ items: [T]) -> [T] {
        var result = items
        guard result.count > 1 else { return result }
        for index in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(index, int(in: 0...index))
        }
        return result
    }
}
