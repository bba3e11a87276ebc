/*D:100 A device on the bus.

Linux's virtio core knows nothing of lguest: it deals in `virtio_device`s, each with a handful of
operations (read the config, get and set the status, negotiate features, find the queues) that the
*transport* provides. lguest's bus is one such transport; PCI is another. So a device here is two
things glued together: the virtio device a driver sees, and the descriptor in the device page that the
transport's operations read and write.

`LguestDevice` is that glue. It remembers where its descriptor is, its lengths as the scan read them,
and the queues a driver has found. Remembering the lengths matters: the Launcher wrote them, and if it
rewrote them later a driver that re-read them could be led outside the descriptor. We read them once,
check them once (`D:110`), and believe only our copy. */

import Guest
import LguestABI
import Machine

/// One device on the lguest bus: its descriptor in the device page, as the scan found it, and the
/// queues its driver has found (Linux's `struct lguest_device`).
public final class LguestDevice {
    /// Its position in the device page, counting from 0.
    public let index: Int
    /// The virtio device id from its descriptor.
    public let type: UInt8
    /// The guest-physical address of its descriptor: what a status change notifies.
    public let descriptor: GuestPhysicalAddress
    /// Where its queue configs, feature bitmaps and config lie, from the lengths the scan read.
    public let layout: DeviceDescriptorLayout
    /// The queues found so far, by index.
    public internal(set) var queues: [Int: Virtqueue] = [:]
    /// The IRQs this device's handler has been installed on.
    var interruptLines: Set<Int> = []

    init(index: Int, type: UInt8, descriptor: GuestPhysicalAddress, layout: DeviceDescriptorLayout) {
        self.index = index
        self.type = type
        self.descriptor = descriptor
        self.layout = layout
    }

    /// The guest-physical address `offset` bytes into the descriptor.
    func field(_ offset: Int) -> GuestPhysicalAddress { descriptor &+ UInt32(offset) }
}
/*:*/

/*D:105 Starting the bus.

The bus is a kernel module (`G:072`). When the kernel starts it, it does three things, as Linux's
`lguest_devices_init()` did:

1. Check that we are running under lguest at all. The same kernel could in principle boot elsewhere,
   and a bus that read a page past the end of memory on a machine where nothing is there would read
   whatever is there.
2. Map the device page. It is the first page past the e820 map (`P:600`), which is not RAM, so the
   kernel's linear map stops just short of it; `mapDevicePage()` (`G:074`) puts it in.
3. Scan it (`D:110`), adding each device it finds.

The drivers the bus can hand devices to are given when it is made: by default the three of this
chapter. Every device that turned up, driven or not, is kept in `devices`, for the tests and the
curious. */

/// The lguest bus: finds the devices in the device page and gives each to its driver (Linux's
/// `lguest_device.c`).
public final class LguestBus: KernelModule {
    /// Makes a driver for one device of a given type; a new one per device.
    public typealias DriverFactory = @Sendable () -> any VirtioDriver

    /// The module's name.
    public let name = "lguest bus"
    /// The drivers this bus knows, by device type.
    let factories: [UInt8: DriverFactory]
    /// Every device the scan found, in order.
    public private(set) var devices: [LguestDevice] = []
    /// The driver of each device that has one, by device index.
    public private(set) var drivers: [Int: any VirtioDriver] = [:]
    /// Why the scan stopped early, if it did.
    public private(set) var scanRefusal: String?

    /// A bus that hands devices to `drivers` (by default: console, block and rng).
    public init(drivers: [DriverFactory] = LguestBus.standardDrivers) {
        var table: [UInt8: DriverFactory] = [:]
        for factory in drivers { table[factory().deviceType.rawValue] = factory }
        factories = table
    }

    /// The drivers of this chapter.
    public static let standardDrivers: [DriverFactory] = [
        { VirtioConsole() }, { VirtioBlock() }, { VirtioRNG() },
    ]

    /// Check we are under lguest, map the device page and scan it.
    public func start(_ kernel: GuestKernel) throws(GuestStopped) {
        guard kernel.isRunningUnderLguest else { return }
        let page = kernel.memoryMapEnd
        guard try kernel.mapDevicePage(page) != nil else {
            try kernel.printk("lguest: cannot map the device page at \(page)\n")
            return
        }
        try scan(kernel, page: page)
    }
}
/*:*/

/*D:110 The scan.

The device page is a list of descriptors, each as long as its own lengths say (`P:600`), ending at a
type of 0. Walking it is a loop with a cursor. What makes it worth a section is what the Guest must not
believe: the lengths are the Launcher's bytes, and a descriptor whose lengths carry it past the end of
the page would have us read the next page of memory as configuration, or write our accepted features
into it. So before we believe a descriptor, its whole extent must fit in the page; a descriptor that
does not is refused, the scan stops there, and the devices before it are kept.

Why stop rather than skip? Because the next descriptor starts where this one ends, and a descriptor we
do not believe has no trustworthy end. A cursor that ran off the page without meeting a type 0 stops
the same way: a full page with no terminator is a list we cannot trust to end.

**Exercise** (easy; read first P:600, D:100): before believing a descriptor, check that its whole
extent (`layout.size` bytes from `offset`) fits in the device page; refuse it with `refuse()` and stop
the scan if it does not. */

extension LguestBus {
    /// Walk the descriptors of the device page at guest-physical `page`, adding each device.
    func scan(_ kernel: GuestKernel, page: GuestPhysicalAddress) throws(GuestStopped) {
        var offset = 0
        while true {
            // Room for the fixed part at least, or the list has no end inside the page.
            guard offset + DeviceDescriptorHeader.size <= DevicePage.size else {
                return try refuse(kernel, "device list runs off the device page at offset \(offset)")
            }
            let descriptor = page &+ UInt32(offset)
            let type = try kernel.readPhysical8(descriptor &+ UInt32(DeviceDescriptorHeader.type))
            if type == 0 { return }
            let layout = DeviceDescriptorLayout(
                queueCount: Int(try kernel.readPhysical8(descriptor &+ UInt32(DeviceDescriptorHeader.queueCount))),
                featureLength: Int(try kernel.readPhysical8(descriptor &+ UInt32(DeviceDescriptorHeader.featureLength))),
                configLength: Int(try kernel.readPhysical8(descriptor &+ UInt32(DeviceDescriptorHeader.configLength))))
            // Its whole extent must fit: three lengths of at most 255 cannot overflow an Int.
            // exercise D:110 {
            guard offset + layout.size <= DevicePage.size else {
                return try refuse(kernel, "device \(devices.count) at offset \(offset) runs off the device page (\(layout.size) bytes)")
            }
            // exercise D:110 } stub: ExerciseStub.unfinished("D:110")
            let device = LguestDevice(index: devices.count, type: type, descriptor: descriptor, layout: layout)
            devices.append(device)
            try add(kernel, device)
            offset += layout.size
        }
    }

    /// Stop the scan, saying why.
    func refuse(_ kernel: GuestKernel, _ reason: String) throws(GuestStopped) {
        scanRefusal = reason
        try kernel.printk("lguest: \(reason); scan stopped\n")
    }
}
/*:*/

/*D:120 Adding one device.

Linux registers each device with the virtio core, which walks the status byte through its steps
(`P:630`) and calls the driver's probe in the middle. We do the same steps here, in the same order, so
that the Launcher sees them as it would from Linux:

1. `acknowledge`: we have seen the device.
2. Find a driver for its type. None: leave it acknowledged and say so; a device we cannot drive is not
   an error (a newer Launcher may offer devices an older Guest has never heard of).
3. `driver`: we have a driver.
4. Agree the features (`D:130`): we accept what the device offers *and* the driver understands.
5. `featuresOK`, then the driver's probe, which finds its queues and registers what it offers.
6. `driverOK` if the probe succeeded, `failed` if not.

Each step is a `NOTIFY` of the descriptor's address: four or five world switches per device, once,
at boot. Cheap enough not to batch. */

extension LguestBus {
    /// Take `device` through the status steps, giving it to its driver on the way.
    func add(_ kernel: GuestKernel, _ device: LguestDevice) throws(GuestStopped) {
        var status: VirtioStatus = .acknowledge
        try device.setStatus(kernel, status)
        let kind = VirtioDeviceID(rawValue: device.type).map { "\($0)" } ?? "type \(device.type)"
        guard let factory = factories[device.type] else {
            return try kernel.printk("lguest: device \(device.index): \(kind), no driver\n")
        }
        let driver = factory()
        status.insert(.driver)
        try device.setStatus(kernel, status)
        let features = try device.acceptFeatures(kernel, known: driver.knownFeatures)
        status.insert(.featuresOK)
        try device.setStatus(kernel, status)
        if let problem = try driver.probe(kernel, device, features: features) {
            status.insert(.failed)
            try device.setStatus(kernel, status)
            return try kernel.printk("lguest: device \(device.index): \(kind): \(problem)\n")
        }
        status.insert(.driverOK)
        try device.setStatus(kernel, status)
        drivers[device.index] = driver
        try kernel.printk("lguest: device \(device.index): \(kind), \(driver.summary)\n")
    }
}
/*:*/
