// The one thing the Guest kernel tells the Launcher about its scheduling: which program it is running.
// The Launcher's trace (`L:110`) draws a track per process from it; nothing in the Host reads it, since
// the Host may not know the Guest's processes any more than lguest's Host knew Linux's.

extension GuestKernel {
    /// The process the processor is running or last ran, as its pid and program name; nil before
    /// the first program starts and between one program's end and the next one's start.
    public var runningProcess: (pid: UInt32, name: String)? {
        guard let index = processes.current, processes.processes.indices.contains(index) else { return nil }
        let process = processes.processes[index]
        return (process.pid, process.name)
    }
}
