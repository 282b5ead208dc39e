/// A task's state as one letter, the way `ps` and `/proc/PID/stat` show it:
///
///     R running   S sleeping   D disk sleep (uninterruptible)   T stopped
///     t tracing stop   X dead   Z zombie   P parked   I idle
///
/// The kernel reports the highest set bit of `(__state | exit_state)` among
/// the seven reportable bits (TASK_INTERRUPTIBLE 0x1, TASK_UNINTERRUPTIBLE
/// 0x2, __TASK_STOPPED 0x4, __TASK_TRACED 0x8, EXIT_DEAD 0x10,
/// EXIT_ZOMBIE 0x20, TASK_PARKED 0x40; none set is R); a task sleeping
/// uninterruptibly without counting toward the load (TASK_IDLE, that is
/// TASK_UNINTERRUPTIBLE | TASK_NOLOAD 0x400) is I, and one blocked on an
/// RT-spinlock (TASK_RTLOCK_WAIT 0x1000) is shown as D. These are the
/// `include/linux/sched.h` values of Linux 4.14 and later (the kernel's
/// `task_state_array` has 9 entries since then); they are preprocessor
/// constants, absent from DWARF.
///
/// Idle tasks (PID 0, one per CPU) are TASK_RUNNING and so show R: the
/// kernel's own answer (crash prints them as RU).
public enum TaskState {
    static let report: UInt64 = 0x7f
    static let uninterruptible: UInt64 = 0x2
    static let noload: UInt64 = 0x400
    static let rtlockWait: UInt64 = 0x1000
    static let letters: [Character] = ["R", "S", "D", "T", "t", "X", "Z", "P", "I"]

    public static func letter(state: UInt64, exitState: UInt64) -> Character {
        let idle = uninterruptible | noload
        if state & rtlockWait != 0 { return "D" }
        if state & idle == idle { return "I" }
        let bits = (state | exitState) & report
        guard bits != 0 else { return "R" }
        let highest = 63 - bits.leadingZeroBitCount   // 0 ... 6
        return letters[highest + 1]
    }
}
