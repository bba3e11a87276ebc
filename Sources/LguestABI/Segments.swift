/*P:240 The segment layout everyone shares.

Segments on the i386 are mostly a historical curiosity: Linux sets every code and data segment to cover
all 4 GiB from address 0, and lets paging do the real work. But the *selectors* still matter, because
the low two bits of the one in cs are the processor's privilege level, and because the Host has to keep
a few slots of the Guest's Global Descriptor Table (GDT) for itself.

We keep the layout of Linux's i386 GDT, 32 entries of 8 bytes, with lguest's additions:

| slot | selector | what |
| ---- | -------- | ---- |
| 6...8 | | thread-local storage, loaded with `Hypercall.loadTLS` |
| 10 | 0x50 | the Switcher's code segment (Host only) |
| 11 | 0x58 | the Switcher's data segment (Host only) |
| 12 | 0x61 | the Guest kernel's code segment, ring 1 |
| 13 | 0x69 | the Guest kernel's data and stack segment, ring 1 |
| 14 | 0x73 | user code, ring 3 |
| 15 | 0x7B | user data and stack, ring 3 |
| 16 | | the task state segment (Host only) |
| 31 | | the double-fault task state segment (Host only) |

The Guest's kernel segments have descriptor privilege 0 in Linux's table; the Host raises them to 1
when it copies the table (`H:620`), and the selectors the Guest uses carry RPL 1 to match. */

import Machine

/// The Global Descriptor Table slots, as Linux's i386 kernel and lguest lay them out.
public enum GDTLayout {
    /// The number of entries in the GDT (Linux's `GDT_ENTRIES`).
    public static let entryCount = 32
    /// The first of the three thread-local-storage slots (`GDT_ENTRY_TLS_MIN`).
    public static let firstTLS = 6
    /// The number of thread-local-storage slots.
    public static let tlsCount = 3
    /// The Switcher's code segment slot (`GDT_ENTRY_LGUEST_CS`).
    public static let switcherCode = 10
    /// The Switcher's data segment slot (`GDT_ENTRY_LGUEST_DS`).
    public static let switcherData = 11
    /// The kernel code segment slot (`GDT_ENTRY_KERNEL_CS`).
    public static let kernelCode = 12
    /// The kernel data segment slot (`GDT_ENTRY_KERNEL_DS`).
    public static let kernelData = 13
    /// The user code segment slot (`GDT_ENTRY_DEFAULT_USER_CS`).
    public static let userCode = 14
    /// The user data segment slot (`GDT_ENTRY_DEFAULT_USER_DS`).
    public static let userData = 15
    /// The task state segment slot (`GDT_ENTRY_TSS`).
    public static let taskState = 16
    /// The double-fault task state segment slot (`GDT_ENTRY_DOUBLEFAULT_TSS`).
    public static let doubleFaultTaskState = 31

    /// The Guest kernel's code selector: slot 12 at RPL 1 (0x61).
    public static let kernelCodeSelector = SegmentSelector(index: kernelCode, rpl: guestKernelRing)
    /// The Guest kernel's data and stack selector: slot 13 at RPL 1 (0x69).
    public static let kernelDataSelector = SegmentSelector(index: kernelData, rpl: guestKernelRing)
    /// User code: slot 14 at RPL 3 (0x73).
    public static let userCodeSelector = SegmentSelector(index: userCode, rpl: guestUserRing)
    /// User data and stack: slot 15 at RPL 3 (0x7B).
    public static let userDataSelector = SegmentSelector(index: userData, rpl: guestUserRing)
    /// The Switcher's code selector: slot 10 at RPL 0 (0x50).
    public static let switcherCodeSelector = SegmentSelector(index: switcherCode, rpl: 0)
    /// The Switcher's data selector: slot 11 at RPL 0 (0x58).
    public static let switcherDataSelector = SegmentSelector(index: switcherData, rpl: 0)
    /// The task state segment selector: slot 16 (0x80).
    public static let taskStateSelector = SegmentSelector(index: taskState, rpl: 0)

    /// True for the slots only the Host may fill: the Guest's descriptors there are ignored.
    public static func isReservedForHost(_ slot: Int) -> Bool {
        slot == switcherCode || slot == switcherData || slot == taskState || slot == doubleFaultTaskState
    }
}
/*:*/
