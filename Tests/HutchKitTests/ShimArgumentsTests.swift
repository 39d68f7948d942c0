import XCTest
@testable import HutchOS

/// The shim's command lines, pinned byte for byte: what `hutch run` / `hutch exec` hand to
/// `hutch-shim` (docs/shim-protocol.md).
final class ShimArgumentsTests: XCTestCase {
    func testBridgeDetachedWithInit() {
        var s = ShimRunSpec()
        s.hostname = "web"
        s.binds = ["/r/c/1/hosts:/etc/hosts", "/r/c/1/hostname:/etc/hostname"]
        s.workdir = "/tmp"
        s.env = ["PATH=/bin", "HOSTNAME=web"]
        s.envFile = "/r/c/1/services.env"
        s.pid1 = .initProcess
        s.caps = "a80425fb"
        s.noNewPrivs = true
        s.exitFile = "/r/c/1/exit"
        s.log = "/r/c/1/ctr.log"
        s.detach = true
        s.exitCommand = ["/usr/bin/hutch", "--root", "/r", "--firewall", "nftables", "cleanup", "1"]
        s.command = ["python3", "-m", "http.server", "--", "80"]
        XCTAssertEqual(s.arguments, [
            "run", "--netns", "new", "--hostname", "web",
            "--bind", "/r/c/1/hosts:/etc/hosts", "--bind", "/r/c/1/hostname:/etc/hostname",
            "--workdir", "/tmp", "--env", "HUTCH_SHIM_ENV_0", "--env", "HUTCH_SHIM_ENV_1", "--env-file", "/r/c/1/services.env", "--init",
            "--caps", "a80425fb", "--no-new-privs", "--exit-file", "/r/c/1/exit",
            "--log", "/r/c/1/ctr.log", "--detach",
            "--exit-cmd", "/usr/bin/hutch", "--exit-cmd", "--root", "--exit-cmd", "/r", "--exit-cmd", "--firewall",
            "--exit-cmd", "nftables", "--exit-cmd", "cleanup", "--exit-cmd", "1",
            "--", "python3", "-m", "http.server", "--", "80",
        ])
        // The values travel in the shim's environment, never on its command line (world-readable).
        XCTAssertEqual(s.environment.map { "\($0.0)=\($0.1)" }, ["HUTCH_SHIM_ENV_0=PATH=/bin", "HUTCH_SHIM_ENV_1=HOSTNAME=web"])
    }

    func testHostModeForeground() {
        var s = ShimRunSpec()
        s.net = .host
        s.hostname = "box"
        s.command = ["true"]
        XCTAssertEqual(s.arguments, ["run", "--netns", "host", "--hostname", "box", "--workdir", "/", "--", "true"])
    }

    func testPodMemberJoinsInfraNamespaces() {
        var s = ShimRunSpec()
        s.net = .join("/proc/42/ns/net")
        s.uts = .join("/proc/42/ns/uts")
        s.ipc = .join("/proc/42/ns/ipc")
        s.command = ["sh"]
        XCTAssertEqual(s.arguments, ["run", "--netns", "/proc/42/ns/net", "--uts", "/proc/42/ns/uts",
                                     "--ipc", "/proc/42/ns/ipc", "--workdir", "/", "--", "sh"])
    }

    func testPauseTakesNoCommand() {
        var s = ShimRunSpec()
        s.pid1 = .pause
        s.hostname = "pod1"
        s.command = ["ignored"]
        XCTAssertEqual(s.arguments, ["run", "--netns", "new", "--hostname", "pod1", "--workdir", "/", "--pause"])
    }

    func testTerminalAndOpenStdin() {
        var s = ShimRunSpec()
        s.tty = true
        s.pid1 = .initProcess
        s.caps = "0"
        s.command = ["bash"]
        XCTAssertEqual(s.arguments, ["run", "--netns", "new", "--workdir", "/", "--init", "--tty", "--caps", "0", "--", "bash"])
        s.tty = false
        s.openStdin = true
        XCTAssertEqual(s.arguments, ["run", "--netns", "new", "--workdir", "/", "--init", "--open-stdin", "--caps", "0", "--", "bash"])
        var e = ShimExecSpec(pid: 9, workdir: "/", command: ["sh"])
        e.tty = true
        XCTAssertEqual(e.arguments, ["exec", "--pid", "9", "--workdir", "/", "--tty", "--", "sh"])
    }

    func testExec() {
        var e = ShimExecSpec(pid: 7, workdir: "/srv", command: ["ip", "addr"])
        e.env = ["A=1"]
        e.envFile = "/r/c/7/services.env"
        e.caps = "0"
        e.noNewPrivs = true
        XCTAssertEqual(e.environment.map { "\($0.0)=\($0.1)" }, ["HUTCH_SHIM_ENV_0=A=1"])
        XCTAssertEqual(e.arguments, ["exec", "--pid", "7", "--workdir", "/srv", "--env", "HUTCH_SHIM_ENV_0",
                                     "--env-file", "/r/c/7/services.env", "--caps", "0",
                                     "--no-new-privs", "--", "ip", "addr"])
    }
}
