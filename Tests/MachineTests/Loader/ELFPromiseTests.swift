import Machine
import Testing

@Test func x805_everyImageKeepsThePromisesItsTypeMakes() throws {
    // What holding an `ELFImage` guarantees, checked on every committed program: segments inside the
    // file and inside the user half, no two overlapping, and the entry in an executable segment.
    for name in GuestPrograms.names {
        let image = try GuestPrograms.load(name)
        for segment in image.segments {
            #expect(UInt64(segment.fileOffset) + UInt64(segment.fileSize) <= UInt64(image.bytes.count), "\(name)")
            #expect(segment.fileSize <= segment.memorySize, "\(name)")
            #expect(UInt64(segment.virtualAddress.rawValue) + UInt64(segment.memorySize) <= 0xC000_0000, "\(name)")
        }
        let sorted = image.segments.sorted { $0.virtualAddress.rawValue < $1.virtualAddress.rawValue }
        for (one, next) in zip(sorted, sorted.dropFirst()) {
            #expect(one.endAddress <= next.virtualAddress.rawValue, "\(name): segments overlap")
        }
        #expect(image.segments.contains { segment in
            segment.permissions.contains(.executable) && segment.virtualAddress.rawValue <= image.entry.rawValue
                && image.entry.rawValue < segment.endAddress
        }, "\(name): the entry is in an executable segment")
    }
}
