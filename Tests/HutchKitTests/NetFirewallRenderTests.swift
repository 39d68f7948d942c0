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

    /// A fresh table: every base chain, every feature's objects, then the whole jump list.
    func testNftSkeletonFresh() {
        XCTAssertEqual(NftablesFirewall.renderSkeleton(present: [:]), """
        add table ip hutch { comment "hutch container networks"; }
        add chain ip hutch forward { type filter hook forward priority filter; policy accept; }
        add chain ip hutch prerouting { type nat hook prerouting priority dstnat; policy accept; }
        add chain ip hutch output { type nat hook output priority -100; policy accept; }
        add chain ip hutch postrouting { type nat hook postrouting priority srcnat; policy accept; }
        add chain ip hutch raw-prerouting { type filter hook prerouting priority raw; policy accept; }
        add chain ip hutch filter-input { type filter hook input priority -10; policy accept; }
        add chain ip hutch filter-forward { type filter hook forward priority -10; policy accept; }
        add chain ip hutch filter-output { type filter hook output priority -10; policy accept; }
        add map ip hutch bridges { type ifname : verdict; }
        add map ip hutch subnets { type ipv4_addr : verdict; flags interval; }
        add chain ip hutch networks-forward
        flush chain ip hutch networks-forward
        add rule ip hutch networks-forward oifname vmap @bridges
        add rule ip hutch networks-forward iifname vmap @bridges
        add chain ip hutch networks-postrouting
        flush chain ip hutch networks-postrouting
        add rule ip hutch networks-postrouting ip saddr vmap @subnets
        add chain ip hutch networks-localnet
        flush chain ip hutch networks-localnet
        add rule ip hutch networks-localnet iifname != "lo" ip daddr 127.0.0.0/8 drop comment "hutch: CVE-2020-8558"
        add map ip hutch tcp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
        add map ip hutch udp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
        add map ip hutch tcp_any { type inet_service : ipv4_addr . inet_service; }
        add map ip hutch udp_any { type inet_service : ipv4_addr . inet_service; }
        add set ip hutch hairpin { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
        add set ip hutch bridge_ifs { type ifname; }
        add chain ip hutch ports-dnat
        flush chain ip hutch ports-dnat
        add rule ip hutch ports-dnat dnat ip to ip daddr . tcp dport map @tcp_ports
        add rule ip hutch ports-dnat dnat ip to tcp dport map @tcp_any
        add rule ip hutch ports-dnat dnat ip to ip daddr . udp dport map @udp_ports
        add rule ip hutch ports-dnat dnat ip to udp dport map @udp_any
        add chain ip hutch ports-postrouting
        flush chain ip hutch ports-postrouting
        add rule ip hutch ports-postrouting ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade comment "hutch: hairpin"
        add rule ip hutch ports-postrouting ct status dnat ip saddr 127.0.0.0/8 oifname @bridge_ifs masquerade comment "hutch: localhost"
        add set ip hutch svc-ips { type ipv4_addr; }
        add chain ip hutch services-dnat
        flush chain ip hutch services-dnat
        add chain ip hutch services-nodeports
        flush chain ip hutch services-nodeports
        add map ip hutch svc-backends { typeof ip daddr . meta l4proto . th dport . numgen random mod 60 : ip daddr . th dport; }
        delete map ip hutch svc-backends
        add map ip hutch svc-backends { typeof ip daddr . meta l4proto . th dport . numgen random mod 60 : ip daddr . th dport; }
        add map ip hutch svc-np-backends { typeof meta l4proto . th dport . numgen random mod 60 : ip daddr . th dport; }
        delete map ip hutch svc-np-backends
        add map ip hutch svc-np-backends { typeof meta l4proto . th dport . numgen random mod 60 : ip daddr . th dport; }
        add set ip hutch svc-nodeports { type inet_proto . inet_service; }
        add set ip hutch svc-np-masq { type inet_proto . inet_service; }
        add set ip hutch svc-hairpin { type ipv4_addr . ipv4_addr; }
        add set ip hutch svc-aff-ips { type ipv4_addr; }
        add map ip hutch svc-tports { type ipv4_addr . inet_proto . inet_service : inet_service; }
        add map ip hutch svc-aff { type ipv4_addr . ipv4_addr : ipv4_addr; flags timeout; }
        add set ip hutch svc-np-aff-ports { type inet_proto . inet_service; }
        add map ip hutch svc-np-tports { type inet_proto . inet_service : inet_service; }
        add map ip hutch svc-np-aff { type ipv4_addr . inet_proto . inet_service : ipv4_addr; flags timeout; }
        add rule ip hutch services-dnat ip daddr @svc-aff-ips meta l4proto { tcp, udp } dnat ip to ip saddr . ip daddr map @svc-aff : ip daddr . meta l4proto . th dport map @svc-tports
        add rule ip hutch services-dnat ip daddr @svc-ips dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 60 map @svc-backends
        add rule ip hutch services-nodeports ip daddr != 127.0.0.0/8 meta l4proto . th dport @svc-np-masq meta mark set meta mark | 0x4000
        add rule ip hutch services-nodeports ip daddr != 127.0.0.0/8 meta l4proto . th dport @svc-np-aff-ports dnat ip to ip saddr . meta l4proto . th dport map @svc-np-aff : meta l4proto . th dport map @svc-np-tports
        add rule ip hutch services-nodeports ip daddr != 127.0.0.0/8 dnat ip to meta l4proto . th dport . numgen random mod 60 map @svc-np-backends
        add chain ip hutch services-postrouting
        flush chain ip hutch services-postrouting
        add chain ip hutch services-affinity
        flush chain ip hutch services-affinity
        add chain ip hutch services-np-affinity
        flush chain ip hutch services-np-affinity
        add set ip hutch svc-aff-t10800 { type ipv4_addr; }
        add rule ip hutch services-affinity ct original ip daddr @svc-aff-t10800 update @svc-aff { ip saddr . ct original ip daddr timeout 10800s : ip daddr }
        add set ip hutch svc-np-aff-t10800 { type inet_proto . inet_service; }
        add rule ip hutch services-np-affinity meta l4proto tcp meta l4proto . ct original proto-dst @svc-np-aff-t10800 update @svc-np-aff { ip saddr . meta l4proto . ct original proto-dst timeout 10800s : ip daddr }
        add rule ip hutch services-np-affinity meta l4proto udp meta l4proto . ct original proto-dst @svc-np-aff-t10800 update @svc-np-aff { ip saddr . meta l4proto . ct original proto-dst timeout 10800s : ip daddr }
        add rule ip hutch services-postrouting ct status dnat ct original ip daddr @svc-aff-ips jump services-affinity
        add rule ip hutch services-postrouting ct status dnat ct original ip daddr != @svc-ips meta l4proto tcp meta l4proto . ct original proto-dst @svc-np-aff-ports jump services-np-affinity
        add rule ip hutch services-postrouting ct status dnat ct original ip daddr != @svc-ips meta l4proto udp meta l4proto . ct original proto-dst @svc-np-aff-ports jump services-np-affinity
        add rule ip hutch services-postrouting ct status dnat ip saddr . ip daddr @svc-hairpin masquerade comment "hutch: service hairpin"
        add rule ip hutch services-postrouting meta mark & 0x4000 == 0x4000 meta mark set meta mark & 0xffffbfff masquerade comment "hutch: nodeport"
        add chain ip hutch services-reject
        flush chain ip hutch services-reject
        add rule ip hutch services-reject ct state new ct status & dnat == 0 ip daddr @svc-ips meta l4proto tcp reject with tcp reset comment "hutch: service without endpoints"
        add rule ip hutch services-reject ct state new ct status & dnat == 0 ip daddr @svc-ips reject comment "hutch: service without endpoints"
        add rule ip hutch services-reject ct state new ct status & dnat == 0 fib daddr type local meta l4proto . th dport @svc-nodeports meta l4proto tcp reject with tcp reset comment "hutch: nodeport without endpoints"
        add rule ip hutch services-reject ct state new ct status & dnat == 0 fib daddr type local meta l4proto . th dport @svc-nodeports reject comment "hutch: nodeport without endpoints"
        add rule ip hutch forward jump networks-forward
        add rule ip hutch postrouting jump networks-postrouting
        add rule ip hutch raw-prerouting jump networks-localnet
        add rule ip hutch prerouting fib daddr type local jump ports-dnat
        add rule ip hutch output fib daddr type local jump ports-dnat
        add rule ip hutch postrouting jump ports-postrouting
        add rule ip hutch prerouting jump services-dnat
        add rule ip hutch output jump services-dnat
        add rule ip hutch prerouting fib daddr type local jump services-nodeports
        add rule ip hutch output fib daddr type local jump services-nodeports
        add rule ip hutch postrouting jump services-postrouting
        add rule ip hutch filter-input jump services-reject
        add rule ip hutch filter-forward jump services-reject
        add rule ip hutch filter-output jump services-reject

        """)
    }

    /// Base chains are never flushed: with the networks' jumps there (and someone else's jump to a
    /// chain of its own), only the ports' objects and jumps are added; with all there, nothing.
    func testNftSkeletonAddsOnlyWhatIsMissing() throws {
        let networksOnly: [String: Set<String>] = [
            "forward": ["networks-forward"], "postrouting": ["networks-postrouting", "services-postrouting"],
            "raw-prerouting": ["networks-localnet"], "prerouting": ["services", "services-dnat", "services-nodeports"],
            "output": ["services-dnat", "services-nodeports"], "filter-input": ["services-reject"],
            "filter-forward": ["services-reject"], "filter-output": ["services-reject"]]
        let b = try XCTUnwrap(NftablesFirewall.renderSkeleton(present: networksOnly))
        XCTAssertFalse(b.contains("flush chain ip hutch forward"), b)
        XCTAssertFalse(b.contains("networks-forward"), "the networks feature is installed: not touched\n\(b)")
        XCTAssertFalse(b.contains("services"), "a foreign chain named services, and hutch's services feature installed: \(b)")
        XCTAssertTrue(b.hasSuffix("""
            add rule ip hutch prerouting fib daddr type local jump ports-dnat
            add rule ip hutch output fib daddr type local jump ports-dnat
            add rule ip hutch postrouting jump ports-postrouting

            """), b)
        for base in NftablesFirewall.baseChains { XCTAssertFalse(b.contains("flush chain ip hutch \(base.name)\n"), b) }

        var all = networksOnly
        all["prerouting"] = ["services", "ports-dnat", "services-dnat", "services-nodeports"]
        all["output"] = ["ports-dnat", "services-dnat", "services-nodeports"]
        all["postrouting"] = ["networks-postrouting", "ports-postrouting", "services-postrouting"]
        XCTAssertNil(NftablesFirewall.renderSkeleton(present: all), "all there: no batch, nothing written")
        // A port write that found a map missing reinstalls the ports' objects, adds no jump twice.
        let again = try XCTUnwrap(NftablesFirewall.renderSkeleton(present: all, reinstalling: ["ports"]))
        XCTAssertTrue(again.contains("add map ip hutch tcp_any"), again)
        XCTAssertFalse(again.contains("jump"), again)
        XCTAssertFalse(again.contains("networks-"), again)
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
        add chain ip hutch nat-secret
        add element ip hutch subnets { 10.90.0.0/24 : jump nat-secret }
        delete element ip hutch subnets { 10.90.0.0/24 }
        flush chain ip hutch nat-secret
        delete chain ip hutch nat-secret

        """)
        XCTAssertFalse(NftablesFirewall.renderSetup(secret).contains("masquerade"))
    }

    /// Teardown needs no base chain and touches no base chain.
    func testNftTeardown() {
        XCTAssertEqual(NftablesFirewall.renderTeardown(web), """
        add table ip hutch
        add map ip hutch bridges { type ifname : verdict; }
        add map ip hutch subnets { type ipv4_addr : verdict; flags interval; }
        add chain ip hutch fwd-web
        add element ip hutch bridges { "hutch1" : jump fwd-web }
        delete element ip hutch bridges { "hutch1" }
        flush chain ip hutch fwd-web
        delete chain ip hutch fwd-web
        add chain ip hutch nat-web
        add element ip hutch subnets { 10.89.0.0/16 : jump nat-web }
        delete element ip hutch subnets { 10.89.0.0/16 }
        flush chain ip hutch nat-web
        delete chain ip hutch nat-web
        add set ip hutch bridge_ifs { type ifname; }
        add element ip hutch bridge_ifs { "hutch1" }
        delete element ip hutch bridge_ifs { "hutch1" }

        """)
    }

    func testCommentFitsNftLimit() {
        var n = web
        n.name = String(repeating: "a", count: 128)
        XCTAssertEqual(n.ruleComment.utf8.count, 128)
        XCTAssertTrue(n.ruleComment.hasPrefix("hutch:aaa"))
    }

    // MARK: iptables

    /// Fresh tables: the base chains, the features' chains, the jump lists, then the network.
    func testIptablesSetupFresh() {
        let empty = SavedTable()
        XCTAssertEqual(IptablesFirewall.renderSetup(web, filter: empty, nat: empty, raw: empty), """
        *filter
        :HUTCH-FORWARD - [0:0]
        :HUTCH-FILTER-INPUT - [0:0]
        :HUTCH-FILTER-FORWARD - [0:0]
        :HUTCH-FILTER-OUTPUT - [0:0]
        :HUTCH-NETWORKS - [0:0]
        :HUTCH-SERVICES-REJECT - [0:0]
        -I FORWARD -j HUTCH-FORWARD
        -I INPUT -j HUTCH-FILTER-INPUT
        -I FORWARD -j HUTCH-FILTER-FORWARD
        -I OUTPUT -j HUTCH-FILTER-OUTPUT
        -A HUTCH-FORWARD -j HUTCH-NETWORKS
        -A HUTCH-FILTER-INPUT -j HUTCH-SERVICES-REJECT
        -A HUTCH-FILTER-FORWARD -j HUTCH-SERVICES-REJECT
        -A HUTCH-FILTER-OUTPUT -j HUTCH-SERVICES-REJECT
        -I HUTCH-NETWORKS 1 -o hutch1 -m comment --comment "hutch:web" -j DROP
        -I HUTCH-NETWORKS 1 -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-NETWORKS 1 -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-NETWORKS 1 -i hutch1 -o hutch1 -m comment --comment "hutch:web" -j ACCEPT
        -A HUTCH-NETWORKS -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        COMMIT
        *nat
        :HUTCH-PREROUTING - [0:0]
        :HUTCH-OUTPUT - [0:0]
        :HUTCH-POSTROUTING - [0:0]
        :HUTCH-NETWORKS-MASQ - [0:0]
        :HUTCH - [0:0]
        :HUTCH-PORTS-MASQ - [0:0]
        :HUTCH-SERVICES - [0:0]
        :HUTCH-NODEPORTS - [0:0]
        :HUTCH-MARK-MASQ - [0:0]
        :HUTCH-SERVICES-MASQ - [0:0]
        -A PREROUTING -j HUTCH-PREROUTING
        -A OUTPUT -j HUTCH-OUTPUT
        -I POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH-POSTROUTING -j HUTCH-NETWORKS-MASQ
        -A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-POSTROUTING -j HUTCH-PORTS-MASQ
        -A HUTCH-PREROUTING -j HUTCH-SERVICES
        -A HUTCH-OUTPUT -j HUTCH-SERVICES
        -A HUTCH-POSTROUTING -j HUTCH-SERVICES-MASQ
        -A HUTCH-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j HUTCH-NODEPORTS
        -A HUTCH-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A HUTCH-SERVICES-MASQ -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A HUTCH-SERVICES-MASQ -j MARK --set-xmark 0x4000/0x0
        -A HUTCH-SERVICES-MASQ -j MASQUERADE --random-fully
        -A HUTCH-NETWORKS-MASQ -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        COMMIT
        *raw
        :HUTCH-RAW - [0:0]
        :HUTCH-LOCALNET - [0:0]
        -I PREROUTING -j HUTCH-RAW
        -A HUTCH-RAW -j HUTCH-LOCALNET
        -A HUTCH-LOCALNET -d 127.0.0.0/8 ! -i lo -m comment --comment "hutch:CVE-2020-8558" -j DROP
        COMMIT

        """)
    }

    /// What iptables-save (nf_tables 1.8.9) prints once `web` is set up, next to Docker's rules, a
    /// network whose name starts with "web", and a foreign chain jumped to from a hutch base chain.
    let filterSave = """
    # Generated by iptables-save v1.8.9 (nf_tables)
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD DROP [0:0]
    :OUTPUT ACCEPT [0:0]
    :DOCKER - [0:0]
    :HUTCH-FORWARD - [0:0]
    :HUTCH-NETWORKS - [0:0]
    :OTHER - [0:0]
    :HUTCH-FILTER-INPUT - [0:0]
    :HUTCH-FILTER-FORWARD - [0:0]
    :HUTCH-FILTER-OUTPUT - [0:0]
    :HUTCH-SERVICES-REJECT - [0:0]
    -A INPUT -j HUTCH-FILTER-INPUT
    -A FORWARD -j HUTCH-FILTER-FORWARD
    -A OUTPUT -j HUTCH-FILTER-OUTPUT
    -A FORWARD -j HUTCH-FORWARD
    -A FORWARD -o docker0 -j DOCKER
    -A HUTCH-FORWARD -j HUTCH-NETWORKS
    -A HUTCH-FORWARD -j OTHER
    -A HUTCH-FILTER-INPUT -j HUTCH-SERVICES-REJECT
    -A HUTCH-FILTER-FORWARD -j HUTCH-SERVICES-REJECT
    -A HUTCH-FILTER-OUTPUT -j HUTCH-SERVICES-REJECT
    -A HUTCH-NETWORKS -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
    -A HUTCH-NETWORKS -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
    -A HUTCH-NETWORKS -o hutch9 -m comment --comment "hutch:web2" -j DROP
    -A HUTCH-NETWORKS -o hutch1 -m comment --comment "hutch:web" -j DROP
    -A HUTCH-NETWORKS -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
    COMMIT
    """
    let natSave = """
    *nat
    :PREROUTING ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    :POSTROUTING ACCEPT [0:0]
    :HUTCH - [0:0]
    :HUTCH-OUTPUT - [0:0]
    :HUTCH-POSTROUTING - [0:0]
    :HUTCH-PREROUTING - [0:0]
    :HUTCH-NETWORKS-MASQ - [0:0]
    :HUTCH-PORTS-MASQ - [0:0]
    :HUTCH-SERVICES - [0:0]
    :HUTCH-NODEPORTS - [0:0]
    :HUTCH-MARK-MASQ - [0:0]
    :HUTCH-SERVICES-MASQ - [0:0]
    -A PREROUTING -j HUTCH-PREROUTING
    -A OUTPUT -j HUTCH-OUTPUT
    -A POSTROUTING -j HUTCH-POSTROUTING
    -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
    -A HUTCH-OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
    -A HUTCH-POSTROUTING -j HUTCH-NETWORKS-MASQ
    -A HUTCH-POSTROUTING -j HUTCH-PORTS-MASQ
    -A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
    -A HUTCH-PREROUTING -j HUTCH-SERVICES
    -A HUTCH-OUTPUT -j HUTCH-SERVICES
    -A HUTCH-POSTROUTING -j HUTCH-SERVICES-MASQ
    -A HUTCH-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j HUTCH-NODEPORTS
    -A HUTCH-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
    -A HUTCH-SERVICES-MASQ -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A HUTCH-SERVICES-MASQ -j MARK --set-xmark 0x4000/0x0
    -A HUTCH-SERVICES-MASQ -j MASQUERADE --random-fully
    -A HUTCH-NETWORKS-MASQ -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
    COMMIT
    """
    let rawSave = """
    *raw
    :PREROUTING ACCEPT [0:0]
    :HUTCH-RAW - [0:0]
    :HUTCH-LOCALNET - [0:0]
    -A PREROUTING -j HUTCH-RAW
    -A HUTCH-RAW -j HUTCH-LOCALNET
    -A HUTCH-LOCALNET -d 127.0.0.0/8 ! -i lo -m comment --comment hutch:CVE-2020-8558 -j DROP
    COMMIT
    """

    func testIptablesSavedTable() {
        let f = SavedTable(filterSave)
        XCTAssertEqual(f.chains, ["INPUT", "FORWARD", "OUTPUT", "DOCKER", "HUTCH-FORWARD", "HUTCH-NETWORKS", "OTHER",
                                  "HUTCH-FILTER-INPUT", "HUTCH-FILTER-FORWARD", "HUTCH-FILTER-OUTPUT", "HUTCH-SERVICES-REJECT"])
        let mine = f.rules(in: "HUTCH-NETWORKS", comment: "hutch:web")
        XCTAssertEqual(mine.count, 4)
        XCTAssertFalse(mine.contains { $0.contains("web2") })
        XCTAssertEqual(SavedTable(natSave).rules(in: "HUTCH-NETWORKS-MASQ", comment: "hutch:web"),
                       ["-A HUTCH-NETWORKS-MASQ -s 10.89.0.0/16 ! -o hutch1 -m comment --comment \"hutch:web\" -j MASQUERADE"])
        XCTAssertTrue(SavedTable(rawSave).has("-A HUTCH-LOCALNET -d 127.0.0.0/8 ! -i lo -m comment --comment \"hutch:CVE-2020-8558\" -j DROP"),
                      "quoted or not, the same rule")
        XCTAssertEqual(SavedTable("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n").rules, [])
        XCTAssertEqual(SavedTable.comment(of: "-A X -m comment --comment plain -j ACCEPT"), "plain")
    }

    /// Setting up again deletes the network's saved rules and adds them anew, in one batch; the
    /// skeleton is there, so no chain is declared (which would flush it) and no jump added; the
    /// foreign chain and its jump from HUTCH-FORWARD are not mentioned.
    func testIptablesSetupAgainIsIdempotent() {
        let b = IptablesFirewall.renderSetup(web, filter: SavedTable(filterSave), nat: SavedTable(natSave), raw: SavedTable(rawSave))
        XCTAssertEqual(b, """
        *filter
        -D HUTCH-NETWORKS -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-NETWORKS -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-NETWORKS -o hutch1 -m comment --comment "hutch:web" -j DROP
        -D HUTCH-NETWORKS -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-NETWORKS 1 -o hutch1 -m comment --comment "hutch:web" -j DROP
        -I HUTCH-NETWORKS 1 -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-NETWORKS 1 -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -I HUTCH-NETWORKS 1 -i hutch1 -o hutch1 -m comment --comment "hutch:web" -j ACCEPT
        -A HUTCH-NETWORKS -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        COMMIT
        *nat
        -D HUTCH-NETWORKS-MASQ -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        -A HUTCH-NETWORKS-MASQ -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        COMMIT

        """)
        XCTAssertFalse(b.contains("OTHER"), b)
    }

    func testIptablesSetupInternal() {
        let b = IptablesFirewall.renderSetup(secret, filter: SavedTable(filterSave), nat: SavedTable(natSave), raw: SavedTable(rawSave))
        XCTAssertEqual(b, """
        *filter
        -I HUTCH-NETWORKS 1 -o hutch2 -m comment --comment "hutch:secret" -j DROP
        -I HUTCH-NETWORKS 1 -i hutch2 -o hutch2 -m comment --comment "hutch:secret" -j ACCEPT
        -A HUTCH-NETWORKS -i hutch2 -m comment --comment "hutch:secret" -j DROP
        COMMIT
        *nat
        COMMIT

        """)
    }

    func testIptablesTeardown() {
        XCTAssertEqual(IptablesFirewall.renderTeardown(web, filter: SavedTable(filterSave), nat: SavedTable(natSave)), """
        *filter
        -D HUTCH-NETWORKS -o hutch1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-NETWORKS -o hutch1 -m conntrack --ctstate DNAT -m comment --comment "hutch:web" -j ACCEPT
        -D HUTCH-NETWORKS -o hutch1 -m comment --comment "hutch:web" -j DROP
        -D HUTCH-NETWORKS -i hutch1 -m comment --comment "hutch:web" -j ACCEPT
        COMMIT
        *nat
        -D HUTCH-NETWORKS-MASQ -s 10.89.0.0/16 ! -o hutch1 -m comment --comment "hutch:web" -j MASQUERADE
        COMMIT

        """)
        XCTAssertNil(IptablesFirewall.renderTeardown(secret, filter: SavedTable(filterSave), nat: SavedTable(natSave)),
                     "nothing left: no batch")
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
