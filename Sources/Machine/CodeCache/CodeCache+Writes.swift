/*X:675 Keeping it right: every write moves a version on.

A cache of decoded instructions has one way to be wrong, and it is the way that matters: the bytes
change and the cache does not notice. Programs do change their code. A loader reads a new program
into frames an old one used; a JIT compiler writes machine code and jumps to it; a program patches
its own instructions, which is what `programs/src/selfmod.c` does for the tests. The x86 promises
that a write is seen by the very next instruction fetched, even when the write lands a few bytes
ahead of the instruction doing it, so the cache must notice every write, from anyone, at once.

Checking every write against the cache would be slow, so the machine keeps something cheaper: one
64-bit *version* per frame, in `PhysicalMemory.frameVersions`. Every store into RAM moves its frame's
version on, and there are few enough doors for that to be a promise rather than a hope:

* the core's stores go through `noteWrite(_:)` below: `storePhysical` (every data write of every
  instruction, fast path or slow), the page walk's accessed and dirty bits, and `copyToLinear`;
* `PhysicalMemory`'s own stores, copies and zeroings (the Host loading a program, the Launcher's
  devices, frames given back by `freeFrames`) do the same with its private `noteWrite(at:count:)`.

A block remembers the version of its frame when it was decoded, and `runCached()` runs it only while
the two agree: it compares them before the block starts and again after every instruction in it, so a
store into the block's own frame ends the block at once and the next instruction is decoded from the
new bytes. That covers the hard case, an instruction rewriting the next one, as well as every write
made between two runs. Sixty-four bits make the promise absolute: a frame written once every
nanosecond would take five centuries to bring its version back round.

What it costs: each store pays one increment in a table that stays in the data cache, and a frame
that mixes code with data it writes (rare in compiled code, which keeps them in separate segments)
has its blocks decoded again after each write. Nothing in this scheme depends on the Guest's
cooperation, which is what a hypervisor needs: a hostile program can make its own code slow, never
make the machine run bytes that are not there. */

extension Core {
    /// Moves on the version of the frame holding `physical`: every store into RAM the core makes
    /// comes through here first, so the code cache sees each write over code it decoded.
    @inline(__always)
    func noteWrite(_ physical: UInt32) {
        frameVersions[Int(physical >> pageShift)] &+= 1
    }
}
/*:*/

/*X:680 What the cache costs, and what it buys.

The cache changes how fast the machine runs and nothing else, and the first claim is easy to see.
Boot a small Guest running the CRC program and the mixed workload, and ask for the counts:

```lguest-run --memory 4 --programs crc32,mix --stats | grep -e world_switches -e machine.instructions -e code_cache
```

then the same boot with the cache switched off:

```lguest-run --memory 4 --programs crc32,mix --stats --no-code-cache | grep -e world_switches -e machine.instructions -e code_cache
```

The same instructions to the last one, the same world switches, and in the first run a few hundred
blocks decoded for over half a million instructions executed: each block was decoded once and then
run thousands of times. The tests make the same comparison far more strictly, over every committed
program and a self-modifying one, register by register (`x660`), and a fuzzer does it on random code.

What it buys is in `lguest-bench` (BENCHMARKS.md has the command and the full set). On this
project's two-core machines, with nothing else running, the CRC kernel runs at about 445 million
guest instructions per second with the cache, from about 160 million without it, and the mixed
workload, with more memory operands, calls and shorter blocks, at 373 to 390 million, 2.9 times
faster than without (`cache_speedup_crc32` and `cache_speedup_mix` time both roads in the same run).
QEMU, which translates to host code, is now 13 times faster than us on the CRC loop and under 5 times
on the mix, from 35 and 13. The costs are small and bounded: about 1.6 MB of table and pool per
machine, one increment per store into RAM, and a decode on the first visit to each block. The rest
of the time goes where an interpreter's always goes, into the indirect jump of the executor's switch
and the branches of the guest's own code, which is the point where a translator like QEMU, which
turns blocks into host machine code, pulls ahead (`M:065` has that idea and others). */

/*M:065 Where the code cache could go next.

The cache decodes; it does not compile. Each step further is a classic of emulator building, and each
can be measured against today's figures with `lguest-bench cache_speedup_mix`:

* **Chaining blocks.** When a block ends in a jump whose target stays in the same frame, it could
  remember the target's slot, and skip the page check and the hash on the way round a loop; the
  version check must stay, so the chain is dropped when the frame changes.
* **Checking the version only after stores.** Today the version is compared after every instruction
  of a block; the decoder knows which operations can write memory, and only those need the check.
* **Finer versions.** A frame that holds both code and data it writes has its blocks decoded again
  after every write. Versions per 256 bytes, or a bit per cached byte as QEMU keeps, would spare it.
* **More of the map.** 16-bit operands, `rep` string instructions and the x87 all go through `step()`
  today. The x87 especially: a block of floating-point instructions could load the host's FPU once
  (`X:630`) instead of once per instruction.
* **Translating.** Instead of a record per instruction, emit host machine code for a whole block,
  as QEMU's TCG does, and the executor's indirect jump disappears. In Swift that means writing an
  x86-64 encoder and executable memory, a project in itself, and every check of `X:675` must survive
  the move. */
/*:*/
