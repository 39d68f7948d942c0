#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchNet
import HutchState

/// What Runtime asks of the machine's network: bridges, veths, firewall rules, links. Passed in
/// (`Runtime.init(…, host:)`), so Runtime's step order and undo are unit-tested without root
/// against a recording fake (Tests/HutchKitTests/RuntimeStepTests.swift). `LinuxHost` is the
/// real one: netlink and the firewall backend.
public protocol HostNetwork: Sendable {
    var firewall: FirewallKind { get }
    /// The bridge, its gateway address, forwarding and the network's rules; idempotent.
    func ensureBridge(_ n: BridgeNetwork) throws
    /// A container's veth pair, its address and default route inside the netns of `containerPid`.
    func attach(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, address: IPv4Address) throws
    /// `network connect`: one more veth pair, its peer `iface` (eth1...) in the netns of
    /// `containerPid` with the address; the container's default route stays as it is.
    func connect(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, iface: String, address: IPv4Address) throws
    /// Deletes a veth now (missing is fine).
    func detach(hostVeth: String) throws
    /// Deletes a veth once this process has exited (the linger helper), or now.
    func detachLater(hostVeth: String) throws
    /// Deletes the bridge and the network's rules (missing is fine).
    func removeBridge(_ n: BridgeNetwork) throws
    /// Re-installs a network's rules (reload).
    func installRules(_ n: BridgeNetwork) throws
    /// Re-installs a cluster node's rules (reload, and after a backend switch).
    func installClusterRules(_ c: ClusterRules) throws
    /// Removes a network's rules only (backend switch).
    func removeRules(_ n: BridgeNetwork) throws
    /// Removes everything of hutch's in this firewall backend: base chains, jumps, guards (the
    /// last step of a backend switch, and uninstall).
    func removeAllRules() throws
    func publish(_ ports: [PortForward]) throws
    /// Whether no host process holds the port (a bind test in the host's netns).
    func isPortFree(_ m: PortMapping) -> Bool
    func unpublish(_ ports: [PortForward]) throws
    /// Whether a link of this name exists.
    func linkExists(_ name: String) throws -> Bool
    /// The host's routes other than the default route (a new network must not shadow them).
    func routedSubnets() throws -> [CIDRv4]
    /// Host-side links as (name, index of the master, 0 for none), and the index of each named bridge.
    func links() throws -> [(name: String, master: Int32)]
    func linkIndex(_ name: String) -> Int32?
    /// Deletes a link now; false if it was already gone.
    func deleteLink(_ name: String) throws -> Bool
    /// Services (ServiceFirewall): one batch of changes, or the whole feature rewritten.
    func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws
    func replaceServices(_ all: [ServiceState]) throws
    /// The route (and dummy link) for the service range; removed with the last service.
    func ensureServiceRoute(_ range: CIDRv4) throws
    func removeServiceRoute(_ range: CIDRv4) throws
    func serviceRouteExists(_ range: CIDRv4) throws -> Bool
}

/// The real host: netlink in the caller's network namespace and one firewall backend.
public struct LinuxHost: HostNetwork {
    let driver: BridgeDriver
    public let firewall: FirewallKind

    public init(firewall: FirewallKind) {
        self.firewall = firewall
        driver = BridgeDriver(firewall: makeFirewall(firewall))
    }

    public func ensureBridge(_ n: BridgeNetwork) throws { try driver.ensure(n) }
    public func attach(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, address: IPv4Address) throws {
        try driver.attach(n, containerPid: containerPid, hostVeth: hostVeth, address: address, mac: address.derivedMAC)
    }
    public func connect(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, iface: String, address: IPv4Address) throws {
        try driver.attach(n, containerPid: containerPid, hostVeth: hostVeth, address: address, mac: address.derivedMAC,
                          peer: iface, defaultRoute: false)
    }
    public func detach(hostVeth: String) throws { try driver.detach(hostVeth: hostVeth) }
    public func detachLater(hostVeth: String) throws { try driver.detachLater(hostVeth: hostVeth) }
    public func removeBridge(_ n: BridgeNetwork) throws { try driver.remove(n) }
    public func installRules(_ n: BridgeNetwork) throws { try driver.firewall.setupNetwork(n) }
    public func removeRules(_ n: BridgeNetwork) throws { try driver.firewall.teardownNetwork(n) }
    public func installClusterRules(_ c: ClusterRules) throws { try driver.firewall.setupCluster(c) }
    public func removeAllRules() throws { try driver.firewall.removeAll() }
    public func publish(_ ports: [PortForward]) throws { try driver.firewall.addPorts(ports) }
    public func unpublish(_ ports: [PortForward]) throws { try driver.firewall.removePorts(ports) }
    public func isPortFree(_ m: PortMapping) -> Bool { PortReservations.isFreeOnHost(m) }
    public func linkExists(_ name: String) throws -> Bool { try NetlinkSession().link(name) != nil }
    public func routedSubnets() throws -> [CIDRv4] { try NetlinkSession().routes().filter { $0.prefix > 0 } }
    public func links() throws -> [(name: String, master: Int32)] { try NetlinkSession().linkList() }
    public func linkIndex(_ name: String) -> Int32? { (try? NetlinkSession())?.linkIndex(name) }
    public func deleteLink(_ name: String) throws -> Bool { try NetlinkSession().deleteLink(name) }
    public func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws {
        try driver.firewall.applyServices(changes, hairpinAdd: hairpinAdd, hairpinRemove: hairpinRemove)
    }
    public func replaceServices(_ all: [ServiceState]) throws { try driver.firewall.replaceServices(all) }
    public func ensureServiceRoute(_ range: CIDRv4) throws { try ServiceRoute.ensure(range) }
    public func removeServiceRoute(_ range: CIDRv4) throws { try ServiceRoute.remove(range) }
    public func serviceRouteExists(_ range: CIDRv4) throws -> Bool { try ServiceRoute.exists(range) }
}

/// Starts shims: the real one posix_spawns `hutch-shim`; the tests' fake records the spec.
public protocol ShimLauncher: Sendable {
    /// `stdin`: the shim gets this process's stdin (else /dev/null); `terminal`: remember this
    /// process's terminal settings and put them back after the shim (see ShimProcess).
    func start(_ spec: ShimRunSpec, detached: Bool, stdin: Bool, terminal: Bool) throws -> any RunningShim
}

/// A started shim as `run` drives it (docs/shim-protocol.md).
public protocol RunningShim: AnyObject {
    var pid: pid_t { get }
    /// The container's host pid, once the shim has cloned it (it waits for `release`).
    func readContainerPid() throws -> pid_t
    /// Lets the container exec its command; throws the failing step's error.
    func release() throws
    /// Makes the shim kill the waiting child and exit.
    func abort()
    /// Waits for the shim; the container's exit status.
    func waitExit() -> Int32
}

extension ShimProcess: RunningShim {}

public struct SpawnedShims: ShimLauncher {
    public init() {}
    public func start(_ spec: ShimRunSpec, detached: Bool, stdin: Bool, terminal: Bool) throws -> any RunningShim {
        try ShimProcess(arguments: spec.arguments, environment: spec.environment, detached: detached,
                        stdin: stdin, terminal: terminal)
    }
}
