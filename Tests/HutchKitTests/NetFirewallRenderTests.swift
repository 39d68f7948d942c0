import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// Golden tests of the rendered firewall batches (moby's firewaller style: config in, text out).
/// The same batches are applied for real in NetlinkRootTests.
final class NetFirewallRenderTests: XCTestCase {
    let web = BridgeNetwork(name: "web", bridge: "hutch1", subnet: CIDRv4("10.89.0.0/16")!,
                            gateway: IPv4Address("10.89.0.1")!, isInternal: false)
    let secret = BridgeNetwork(name: "secret", bridge: "hutch2", subnet: CIDRv4("10.90.0.0/24")!,
                               gateway: IPv4Address("10.90.0.1")!, isInternal: true)

    // MARK: nftables

    func testNftSkeleton() {
        XCTAssertEqual(NftablesFirewall.renderSkeleton(), """
        add table ip hutch { comment "hutch container networks"; }
        add map ip hutch bridges { type ifname : verdict; }
        add map ip hutch subnets { type ipv4_addr : verdict; flags interval; }
        add set ip hutch bridge_ifs { type ifname; }
        add map ip hutch tcp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
        add map ip hutch udp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
        add map ip hutch tcp_any { type inet_service : ipv4_addr . inet_service; }
        add map ip hutch udp_any { type inet_service : ipv4_addr . inet_service; }
        add set ip hutch hairpin { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
        add chain ip hutch forward { type filter hook forward priority filter; policy accept; }
        add chain ip hutch postrouting { type nat hook postrouting priority srcnat; policy accept; }
        add chain ip hutch prerouting { type nat hook prerouting priority dstnat; policy accept; }
        add chain ip hutch output { type nat hook output priority -100; policy accept; }
        add chain ip hutch localnet-guard { type filter hook prerouting priority raw; policy accept; }
        add chain ip hutch ports
        flush chain ip hutch forward
        add rule ip hutch forward oifname vmap @bridges comment "hutch"
        add rule ip hutch forward iifname vmap @bridges comment "hutch"
        flush chain ip hutch postrouting
        add rule ip hutch postrouting ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade comment "hutch: hairpin"
        add rule ip hutch postrouting ct status dnat ip saddr 127.0.0.0/8 oifname @bridge_ifs masquerade comment "hutch: localhost"
        add rule ip hutch postrouting ip saddr vmap @subnets comment "hutch"
        flush chain ip hutch prerouting
        add rule ip hutch prerouting fib daddr type local jump ports comment "hutch"
        flush chain ip hutch output
        add rule ip hutch output fib daddr type local jump ports comment "hutch"
        flush chain ip hutch ports
        add rule ip hutch ports dnat ip to ip daddr . tcp dport map @tcp_ports comment "hutch"
        add rule ip hutch ports dnat ip to tcp dport map @tcp_any comment "hutch"
        add rule ip hutch ports dnat ip to ip daddr . udp dport map @udp_ports comment "hutch"
        add rule ip hutch ports dnat ip to udp dport map @udp_any comment "hutch"
        flush chain ip hutch localnet-guard
        add rule ip hutch localnet-guard iifname != "lo" ip daddr 127.0.0.0/8 drop comment "hutch: CVE-2020-8558"

        """)
    }

    func testNftSetupNormal() {
        XCTAssertEqual(NftablesFirewall.renderSetup(web), """
        add chain ip hutch fwd-web
        flush chain ip hutch fwd-web
        add rule ip hutch fwd-web oifname "hutch1" ct state established,related accept comment "hutch:web"
        add rule ip hutch fwd-web oifname "hutch1" ct status dnat accept comment "hutch:web"
        add rule ip hutch fwd-web iifname "hutch1" accept comment "hutch:web"
        add rule ip hutch fwd-web oifname "hutch1" drop comment "hutch:web"
        add element ip hutch bridges { "hutch1" : jump fwd-web }
        add element ip hutch bridge_ifs { "hutch1" }
        add chain ip hutch nat-web
        flush chain ip hutch nat-web
        add rule ip hutch nat-web oifname != "hutch1" masquerade comment "hutch:web"
        add element ip hutch subnets { 10.89.0.0/16 : jump nat-web }

        """)
    }

    func testNftSetupInternal() {
        XCTAssertEqual(NftablesFirewall.renderSetup(secret), """
        add chain ip hutch fwd-secret
        flush chain ip hutch fwd-secret
        add rule ip hutch fwd-secret iifname "hutch2" oifname "hutch2" accept comment "hutch:secret"
        add rule ip hutch fwd-secret drop comment "hutch:secret"
        add element ip hutch bridges { "hutch2" : jump fwd-secret }
        add element ip hutch bridge_ifs { "hutch2" }
        add chain ip hutch nat-secret
        add element ip hutch subnets { 10.90.0.0/24 : jump nat-secret }
        delete element ip hutch subnets { 10.90.0.0/24 }
        flush chain ip hutch nat-secret
        delete chain ip hutch nat-secret

        """)
        XCTAssertFalse(NftablesFirewall.renderSetup(secret).contains("masquerade"))
    }

    func testNftTeardown() {
        XCTAssertEqual(NftablesFirewall.renderTeardown(web), """
        add chain ip hutch fwd-web
        add element ip hutch bridges { "hutch1" : jump fwd-web }
        delete element ip hutch bridges { "hutch1" }
        add element ip hutch bridge_ifs { "hutch1" }
        delete element ip hutch bridge_ifs { "hutch1" }
        flush chain ip hutch fwd-web
        delete chain ip hutch fwd-web
        add chain ip hutch nat-web
        add element ip hutch subnets { 10.89.0.0/16 : jump nat-web }
        delete element ip hutch subnets { 10.89.0.0/16 }
        flush chain ip hutch nat-web
        delete chain ip hutch nat-web

        """)
    }

    func testCommentFitsNftLimit() {
        var n = web
        n.name = String(repeating: "a", count: 128)
        XCTAssertEqual(n.ruleComment.utf8.count, 128)
        XCTAssertTrue(n.ruleComment.hasPrefix("hutch:aaa"))
    }

    // MARK: iptables

    func testIptablesSetupFresh() {
        XCTAssertEqual(IptablesFirewall.renderSetup(web, filter: .init(), nat: .init()), """
        *filter
        :HUTCH-FORWARD - [0:0]
        -I FORWARD -j HUTCH-FORWARD
        -I HUTCH-FORWARD 1 -o hutch1 -m comment --comment "hutch:web" -j DROP
        -I HUTCH-FORWARD 1 -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-FORWARD 1 -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-FORWARD 1 -i hutch1 -o hutch1 -m comment --comment "hutch:web" -j ACCEPT
        -A HUTCH-FORWARD -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        COMMIT
        *nat
        :HUTCH-POSTROUTING - [0:0]
        -I POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH-POSTROUTING -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        COMMIT

        """)
    }

    func testIptablesSetupInternal() {
        let have = IptablesFirewall.TableState(chainExists: true, jumpExists: true)
        XCTAssertEqual(IptablesFirewall.renderSetup(secret, filter: have, nat: have), """
        *filter
        -I HUTCH-FORWARD 1 -o hutch2 -m comment --comment "hutch:secret" -j DROP
        -I HUTCH-FORWARD 1 -i hutch2 -o hutch2 -m comment --comment "hutch:secret" -j ACCEPT
        -A HUTCH-FORWARD -i hutch2 -m comment --comment "hutch:secret" -j DROP
        COMMIT
        *nat
        COMMIT

        """)
    }

    /// What iptables-save (nf_tables 1.8.9) prints once `web` is set up, next to Docker's rules and
    /// a network whose name starts with "web".
    let filterSave = """
    # Generated by iptables-save v1.8.9 (nf_tables)
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD DROP [0:0]
    :OUTPUT ACCEPT [0:0]
    :DOCKER - [0:0]
    :HUTCH-FORWARD - [0:0]
    -A FORWARD -j HUTCH-FORWARD
    -A FORWARD -o docker0 -j DOCKER
    -A HUTCH-FORWARD -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
    -A HUTCH-FORWARD -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
    -A HUTCH-FORWARD -o hutch9 -m comment --comment "hutch:web2" -j DROP
    -A HUTCH-FORWARD -o hutch1 -m comment --comment "hutch:web" -j DROP
    -A HUTCH-FORWARD -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
    COMMIT
    """
    let natSave = """
    *nat
    :PREROUTING ACCEPT [0:0]
    :POSTROUTING ACCEPT [0:0]
    :HUTCH-POSTROUTING - [0:0]
    -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
    -A POSTROUTING -j HUTCH-POSTROUTING
    -A HUTCH-POSTROUTING -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
    COMMIT
    """

    func testIptablesParseSave() {
        let f = IptablesFirewall.parse(save: filterSave, chain: "HUTCH-FORWARD", builtin: "FORWARD", comment: "hutch:web")
        XCTAssertTrue(f.chainExists)
        XCTAssertTrue(f.jumpExists)
        XCTAssertEqual(f.owned.count, 4)
        XCTAssertFalse(f.owned.contains { $0.contains("web2") })
        let t = IptablesFirewall.parse(save: natSave, chain: "HUTCH-POSTROUTING", builtin: "POSTROUTING", comment: "hutch:web")
        XCTAssertEqual(t, .init(chainExists: true, jumpExists: true, owned: [
            "-A HUTCH-POSTROUTING -s 10.89.0.0/16 ! -o hutch1 -m comment --comment \"hutch:web\" -j MASQUERADE"]))
        let fresh = IptablesFirewall.parse(save: "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", chain: "HUTCH-FORWARD", builtin: "FORWARD", comment: "hutch:web")
        XCTAssertEqual(fresh, .init())
        XCTAssertEqual(IptablesFirewall.commentOf("-A X -m comment --comment plain -j ACCEPT"), "plain")
    }

    /// Setting up again deletes the network's saved rules and adds them anew, in one batch.
    func testIptablesSetupAgainIsIdempotent() {
        let f = IptablesFirewall.parse(save: filterSave, chain: "HUTCH-FORWARD", builtin: "FORWARD", comment: "hutch:web")
        let t = IptablesFirewall.parse(save: natSave, chain: "HUTCH-POSTROUTING", builtin: "POSTROUTING", comment: "hutch:web")
        XCTAssertEqual(IptablesFirewall.renderSetup(web, filter: f, nat: t), """
        *filter
        -D HUTCH-FORWARD -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-FORWARD -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-FORWARD -o hutch1 -m comment --comment "hutch:web" -j DROP
        -D HUTCH-FORWARD -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-FORWARD 1 -o hutch1 -m comment --comment "hutch:web" -j DROP
        -I HUTCH-FORWARD 1 -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-FORWARD 1 -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-FORWARD 1 -i hutch1 -o hutch1 -m comment --comment "hutch:web" -j ACCEPT
        -A HUTCH-FORWARD -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        COMMIT
        *nat
        -D HUTCH-POSTROUTING -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        -A HUTCH-POSTROUTING -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        COMMIT

        """)
    }

    func testIptablesTeardown() {
        let f = IptablesFirewall.parse(save: filterSave, chain: "HUTCH-FORWARD", builtin: "FORWARD", comment: "hutch:web")
        let t = IptablesFirewall.parse(save: natSave, chain: "HUTCH-POSTROUTING", builtin: "POSTROUTING", comment: "hutch:web")
        XCTAssertEqual(IptablesFirewall.renderTeardown(filter: f, nat: t), """
        *filter
        -D HUTCH-FORWARD -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-FORWARD -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-FORWARD -o hutch1 -m comment --comment "hutch:web" -j DROP
        -D HUTCH-FORWARD -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        COMMIT
        *nat
        -D HUTCH-POSTROUTING -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        COMMIT

        """)
        XCTAssertNil(IptablesFirewall.renderTeardown(filter: .init(chainExists: true), nat: .init()), "nothing left: no batch")
    }

    // MARK: small pieces

    func testMACAndSysctlPath() throws {
        XCTAssertEqual(try MAC.parse("02:42:0a:59:00:02"), [2, 0x42, 10, 0x59, 0, 2])
        XCTAssertThrowsError(try MAC.parse("02:42:0a:59:00"))
        XCTAssertThrowsError(try MAC.parse("02:42:0a:59:00:zz"))
        XCTAssertEqual(Sysctl.path("net/ipv4/ip_forward"), "/proc/sys/net/ipv4/ip_forward")
        XCTAssertEqual(Sysctl.path("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward")
        XCTAssertEqual(Sysctl.path("net/ipv4/conf/br.1/route_localnet"), "/proc/sys/net/ipv4/conf/br.1/route_localnet")
        XCTAssertEqual(web.gatewayCIDR.description, "10.89.0.1/16")
        XCTAssertEqual(makeFirewall(.iptables).kind, .iptables)
        XCTAssertEqual(makeFirewall(.nftables).kind, .nftables)
    }

    func testCommandRunFeedsStdinAndCapturesOutput() throws {
        let r = try Command.run(["/bin/cat"], input: "hello\n")
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.output, "hello\n")
        let big = String(repeating: "x", count: 300_000)
        XCTAssertEqual(try Command.run(["/bin/cat"], input: big).output.count, 300_000)
        XCTAssertEqual(try Command.run(["/bin/sh", "-c", "echo oops >&2; exit 3"]).status, 3)
        XCTAssertEqual(try Command.run(["/bin/true"], input: big).status, 0, "a child that ignores stdin")
        XCTAssertThrowsError(try Command.run(["/nonexistent/x"]))
    }
}
