import LguestABI
import Machine
import Testing

// The device page and the virtio ring are bytes both sides read: these pin every offset of P:600-P:640.

@Test func p600_descriptorLayoutIsLguestDeviceDesc() {
    #expect(DeviceDescriptorHeader.type == 0)
    #expect(DeviceDescriptorHeader.queueCount == 1)
    #expect(DeviceDescriptorHeader.featureLength == 2)
    #expect(DeviceDescriptorHeader.configLength == 3)
    #expect(DeviceDescriptorHeader.status == 4)
    #expect(DeviceDescriptorHeader.size == 5)
    // A console: two queues, one byte of features, no config.
    let console = DeviceDescriptorLayout(queueCount: 2, featureLength: 1, configLength: 0)
    #expect(console.queueOffset(0) == 5)
    #expect(console.queueOffset(1) == 13)
    #expect(console.offeredFeaturesOffset == 21)
    #expect(console.acceptedFeaturesOffset == 22)
    #expect(console.configOffset == 23)
    #expect(console.size == 23)
    // A disk: one queue, four bytes of features, an eight-byte capacity.
    let disk = DeviceDescriptorLayout(queueCount: 1, featureLength: 4, configLength: 8)
    #expect(disk.size == 5 + 8 + 4 + 4 + 8)
}

@Test func p600_queueConfigRoundTripsLittleEndian() throws {
    let config = VirtqueueConfig(ringSize: 0x0100, irq: 0x0002, pageFrame: 0x0000_1234)
    #expect(config.bytes == [0x00, 0x01, 0x02, 0x00, 0x34, 0x12, 0x00, 0x00])
    #expect(VirtqueueConfig(bytes: config.bytes) == config)
    #expect(VirtqueueConfig(bytes: [1, 2, 3]) == nil)
    #expect(config.ringAddress == GuestPhysicalAddress(0x0123_4000))
    #expect(DevicePage.address(memoryPages: 4096) == GuestPhysicalAddress(0x0100_0000))
}

@Test func p620_descriptorIsVringDesc() throws {
    let descriptor = VirtqueueDescriptor(address: 0x1122_3344_5566_7788, length: 0x99AA_BBCC,
                                         flags: [.next, .write], next: 0x0102)
    #expect(descriptor.bytes == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                 0xCC, 0xBB, 0xAA, 0x99, 0x03, 0x00, 0x02, 0x01])
    #expect(VirtqueueDescriptor(bytes: descriptor.bytes) == descriptor)
    #expect(VirtqueueDescriptor.Flags.next.rawValue == 1)
    #expect(VirtqueueDescriptor.Flags.write.rawValue == 2)
    #expect(VirtqueueDescriptor.Flags.indirect.rawValue == 4)
    #expect(availableNoInterrupt == 1 && usedNoNotify == 1)
}

@Test(arguments: [(1, 4096), (16, 4096), (64, 4096), (128, 4096), (256, 8192), (512, 12288)])
func p620_usedRingStartsOnThePageAfterTheAvailableRing(size: Int, usedOffset: Int) throws {
    let layout = try #require(VirtqueueLayout(size: size))
    #expect(layout.availableOffset == 16 * size)
    #expect(layout.availableIndexOffset == 16 * size + 2)
    #expect(layout.availableSlotOffset(1) == 16 * size + 6)
    #expect(layout.usedOffset == usedOffset)
    #expect(layout.usedIndexOffset == usedOffset + 2)
    #expect(layout.usedSlotOffset(1) == usedOffset + 12)
    // lguest's vring_size: the used ring's flags, index, elements and event word.
    #expect(layout.byteCount == usedOffset + 6 + 8 * size)
}

@Test func p620_ringSizesMustBePowersOfTwo() {
    for size in [0, 3, 6, 100, 65536, -8] { #expect(VirtqueueLayout(size: size) == nil) }
    #expect(VirtqueueLayout(size: 32768) != nil)
}

@Test func p630_idsAndStatusBitsAreVirtios() {
    #expect(VirtioDeviceID.block.rawValue == 2)
    #expect(VirtioDeviceID.console.rawValue == 3)
    #expect(VirtioDeviceID.rng.rawValue == 4)
    #expect(VirtioStatus.acknowledge.rawValue == 1)
    #expect(VirtioStatus.driver.rawValue == 2)
    #expect(VirtioStatus.driverOK.rawValue == 4)
    #expect(VirtioStatus.featuresOK.rawValue == 8)
    #expect(VirtioStatus.failed.rawValue == 0x80)
    #expect(VirtioBlockFeature.readOnly == 5 && VirtioBlockFeature.flush == 9)
}

@Test func p640_blockRequestIsVirtioBlkOuthdr() {
    #expect(BlockRequestHeader.size == 16)
    #expect(BlockRequestHeader.sector == 8)
    #expect(BlockRequestType.read.rawValue == 0 && BlockRequestType.write.rawValue == 1)
    #expect(BlockRequestType.flush.rawValue == 4)
    #expect(BlockRequestStatus.ok.rawValue == 0 && BlockRequestStatus.ioError.rawValue == 1)
    #expect(BlockRequestStatus.unsupported.rawValue == 2)
    #expect(sectorSize == 512)
}
