/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and fully determined by its seed, so a shop and
/// its fault sequence are the same on every run and every platform. Public for the crash soak, which
/// replays its runs from a seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// SplitMix64's output function: a strong 64-bit bit mixer.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A well-mixed value for (seed, stream, index): lets any order be generated on its own,
    /// without generating the ones before it.
    static func hash(_ seed: UInt64, _ stream: UInt64, _ index: Int) -> UInt64 {
        mix(mix(seed ^ (stream &* 0xD1B5_4A32_D192_ED03)) &+ UInt64(truncatingIfNeeded: index))
    }

    /// A uniform double in [0, 1).
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `range`.
    mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func pick<T>(_ values: [T]) -> T {
        values[Int(next() % UInt64(values.count))]
    }
}
