#if canImport(Glibc)
import Glibc
#endif
import HutchOS

/// Test-only fault injection: `HUTCH_FAULT=run.after-attach hutch run ...` makes hutch SIGKILL
/// itself at that step, as a crash would, so tests can check that the next hutch command (or
/// `hutch gc`) repairs everything. `HUTCH_FAULT=STEP:stop` makes it SIGSTOP itself there instead,
/// so a test can act in the middle of the command and then let it go on (SIGCONT). `Fault.steps`
/// lists every named step.
public enum Fault {
    public static let steps = [
        "run.after-reserve", "run.after-files", "run.after-sandbox", "run.after-bridge", "run.after-spawn", "run.after-attach",
        "run.after-ports", "run.after-running", "run.after-release",
        "rm.after-kill", "rm.after-detach",
        "pod.after-record", "pod.after-cgroup", "pod.after-infra",
        "cleanup.start", "cleanup.after-detach",
        "ingress.after-record", "ingress.after-config", "ingress.after-container", "ingress.after-rename",
    ]

    static let armed: String? = Environment.get("HUTCH_FAULT")

    @inline(__always)
    package static func point(_ name: StaticString) {
        guard let a = armed, a.hasPrefix(name.description) else { return }
        if a == name.description { kill(getpid(), SIGKILL) }
        if a == name.description + ":stop" { kill(getpid(), SIGSTOP) }
    }
}
