/*D:010 Why virtual devices, and why a bus of their own.

A Guest that cannot touch hardware still needs a console to talk on, a disk to keep things on and a
source of randomness. A hypervisor could pretend to be a whole PC for it, down to the serial chip and
the disk controller's registers, and many do; every register access is then a trap and an emulation,
and the Guest's drivers spend their time talking to a machine that does not exist.

lguest's Guest knows better, so it uses *virtio*: drivers that talk to the device through rings in
memory both sides share (`P:620`), with a notification when there is work and an interrupt when it is
done. The devices are found on a bus of lguest's own, the trivial one of `P:600`: a page of descriptors
past the end of memory. This module is the Guest's side of that bargain: the bus, and the drivers on it.
They reach the devices only through guest memory, the device page and hypercalls; they never import the
Launcher or the Host. :*/

import Guest
import LguestABI
import Machine
