// Helpers shared by the Machine tests.

/// A deterministic pseudo-random generator (SplitMix64), so sweeps are reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A few thousand 64-bit values: edge patterns plus pseudo-random ones.
func sample64(count: Int = 4000, seed: UInt64 = 1) -> [UInt64] {
    var generator = SplitMix(seed: seed)
    var values: [UInt64] = [0, .max, 0x0000_FFFF_FFFF_0000, 0xFFFF_0000_0000_FFFF, 0x00CF_9A00_0000_FFFF]
    for bit in 0..<64 { values.append(1 << bit) }
    while values.count < count { values.append(generator.next()) }
    return values
}
