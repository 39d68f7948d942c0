import HutchModel
import HutchOS
import CHutchEtcd
#if canImport(Glibc)
import Glibc
#endif

/// One key of etcd, as the gateway returns it (key and value decoded from base64).
public struct KeyValue: Sendable, Equatable {
    public var key: String
    public var value: String
    public var createRevision: Int64
    public var modRevision: Int64
    /// The lease the key is attached to; 0: none.
    public var lease: Int64

    public init(key: String, value: String, createRevision: Int64 = 0, modRevision: Int64 = 0, lease: Int64 = 0) {
        self.key = key; self.value = value; self.createRevision = createRevision; self.modRevision = modRevision; self.lease = lease
    }

    init?(_ j: JSON) {
        guard let k = j["key"]?.stringValue.flatMap(Base64.decode) else { return nil }
        key = k
        value = j["value"]?.stringValue.flatMap(Base64.decode) ?? ""
        createRevision = j["create_revision"]?.int64Value ?? 0
        modRevision = j["mod_revision"]?.int64Value ?? 0
        lease = j["lease"]?.int64Value ?? 0
    }
}

/// One change a watch reports.
public enum WatchEvent: Sendable, Equatable {
    case put(KeyValue)
    case delete(key: String, revision: Int64)
}

/// The request bodies of etcd 3.4's v3 JSON gateway (`/v3/...`), rendered as bytes production
/// sends (golden-tested). Keys and values are base64; int64 fields are decimal strings, as the
/// gateway prints them (it reads numbers too).
public enum EtcdRequest {
    static func b64(_ s: String) -> JSON { .string(Base64.encode(s)) }

    /// The end of the range of every key starting with `prefix` (clientv3.GetPrefixRangeEnd).
    public static func prefixEnd(_ prefix: String) -> String {
        var b = Array(prefix.utf8)
        while let last = b.last {
            if last < 0xff { b[b.count - 1] = last + 1; return String(decoding: b, as: UTF8.self) }
            b.removeLast()
        }
        return "\0"
    }

    /// POST /v3/kv/range: every key under `prefix`.
    public static func rangePrefix(_ prefix: String) -> String {
        JSON.object(["key": b64(prefix), "range_end": b64(prefixEnd(prefix))]).render()
    }

    /// POST /v3/kv/range: one key.
    public static func rangeKey(_ key: String) -> String { JSON.object(["key": b64(key)]).render() }

    /// POST /v3/kv/put, attached to `lease` (0: none).
    public static func put(_ key: String, _ value: String, lease: Int64 = 0) -> String {
        var o: [String: JSON] = ["key": b64(key), "value": b64(value)]
        if lease != 0 { o["lease"] = .string(String(lease)) }
        return JSON.object(o).render()
    }

    /// POST /v3/kv/txn: put `key` only if it does not exist (its create revision is 0), so of
    /// two nodes racing for it exactly one wins. Answers `succeeded` true for the winner; the
    /// loser gets the existing key back (a range in the failure branch).
    /// `alsoPut`: keys written in the same transaction when it succeeds (no lease).
    public static func createIfAbsent(_ key: String, _ value: String, lease: Int64 = 0, alsoPut: [(String, String)] = []) -> String {
        var put: [String: JSON] = ["key": b64(key), "value": b64(value)]
        if lease != 0 { put["lease"] = .string(String(lease)) }
        return JSON.object([
            "compare": .array([.object(["key": b64(key), "target": .string("CREATE"), "result": .string("EQUAL"),
                                        "create_revision": .string("0")])]),
            "success": .array([.object(["request_put": .object(put)])]
                              + alsoPut.map { .object(["request_put": .object(["key": b64($0.0), "value": b64($0.1)])]) }),
            "failure": .array([.object(["request_range": .object(["key": b64(key)])])]),
        ]).render()
    }

    /// POST /v3/kv/txn: put `key` only while it is still attached to `lease` (a rejoin that
    /// refreshes its own subnet record, never another node's).
    public static func putIfLease(_ key: String, _ value: String, lease: Int64) -> String {
        JSON.object([
            "compare": .array([.object(["key": b64(key), "target": .string("LEASE"), "result": .string("EQUAL"),
                                        "lease": .string(String(lease))])]),
            "success": .array([.object(["request_put": .object(["key": b64(key), "value": b64(value), "lease": .string(String(lease))])])]),
        ]).render()
    }

    /// POST /v3/kv/txn: deletes `keys` only if no key under `prefix` exists (a range compare:
    /// every key in the range has create revision 0, which an empty range satisfies).
    public static func deleteIfEmpty(_ prefix: String, keys: [String]) -> String {
        JSON.object([
            "compare": .array([.object(["key": b64(prefix), "range_end": b64(prefixEnd(prefix)), "target": .string("CREATE"),
                                        "result": .string("EQUAL"), "create_revision": .string("0")])]),
            "success": .array(keys.map { .object(["request_delete_range": .object(["key": b64($0)])]) }),
        ]).render()
    }

    /// POST /v3/kv/deleterange: one key.
    public static func deleteKey(_ key: String) -> String { JSON.object(["key": b64(key)]).render() }

    /// POST /v3/lease/grant
    public static func grant(ttl: Int) -> String { JSON.object(["TTL": .string(String(ttl))]).render() }
    /// POST /v3/lease/keepalive (one renewal)
    public static func keepAlive(_ id: Int64) -> String { JSON.object(["ID": .string(String(id))]).render() }
    /// POST /v3/lease/revoke
    public static func revoke(_ id: Int64) -> String { JSON.object(["ID": .string(String(id))]).render() }
    /// POST /v3/lease/timetolive
    public static func timeToLive(_ id: Int64) -> String { JSON.object(["ID": .string(String(id))]).render() }

    /// POST /v3/watch: every key under `prefix`, from `revision` on (list at R, watch from R+1:
    /// no event falls between).
    public static func watch(_ prefix: String, from revision: Int64) -> String {
        JSON.object(["create_request": .object(["key": b64(prefix), "range_end": b64(prefixEnd(prefix)),
                                                "start_revision": .string(String(revision))])]).render()
    }

    /// The events of one watch message; `compacted`: the revision asked for is gone (re-list);
    /// `canceled`: the server ended the watch.
    public static func parseWatch(_ text: String) -> (events: [WatchEvent], revision: Int64, compacted: Bool, canceled: Bool)? {
        guard let j = JSON.parse(text) else { return nil }
        guard let r = j["result"] else {
            return j["error"] != nil ? ([], 0, false, true) : nil
        }
        let rev = r["header"]?["revision"]?.int64Value ?? 0
        let compacted = (r["compact_revision"]?.int64Value ?? 0) > 0
        var out: [WatchEvent] = []
        for e in r["events"]?.arrayValue ?? [] {
            guard let kvj = e["kv"], let kv = KeyValue(kvj) else { continue }
            if e["type"]?.stringValue == "DELETE" { out.append(.delete(key: kv.key, revision: kv.modRevision)) }
            else { out.append(.put(kv)) }
        }
        return (out, rev, compacted, r["canceled"]?.boolValue ?? false)
    }
}

/// The etcd client: one kept-alive HTTP connection (libcurl) to one endpoint of the gateway at a
/// time; a request that gets no answer there moves to the next endpoint (`EtcdFailover`).
/// Not thread-safe: one thread at a time.
public final class EtcdClient {
    /// Every member's URL, as given (`--etcd a,b,c`).
    public let endpoints: [String]
    public let tls: EtcdTLS
    /// The endpoint in use (the last one that answered).
    public private(set) var current: Int
    /// One connection per endpoint, opened when first used.
    var handles: [OpaquePointer?]
    /// Per request, connect included.
    public var timeoutMS: Int

    /// The endpoint in use.
    public var endpoint: String { endpoints[current] }

    public convenience init(endpoint: String, tls: EtcdTLS = .none, timeoutMS: Int = 2000) throws {
        try self.init(endpoints: [endpoint], tls: tls, timeoutMS: timeoutMS)
    }

    /// `from`: the endpoint tried first (the agent's last good one).
    public init(endpoints given: [String], tls: EtcdTLS = .none, timeoutMS: Int = 2000, from: Int = 0) throws {
        guard !given.isEmpty else { throw HutchError("no etcd URL given: use --etcd URL[,URL...]") }
        var list: [String] = []
        for endpoint in given {
            var e = endpoint
            while e.hasSuffix("/") { e.removeLast() }
            guard e.hasPrefix("http://") || e.hasPrefix("https://"), e.count > 8 else {
                throw HutchError("invalid --etcd \"\(endpoint)\": use a URL such as http://10.0.0.254:2379")
            }
            list.append(e)
        }
        endpoints = list; self.tls = tls; self.timeoutMS = timeoutMS
        current = (0..<list.count).contains(from) ? from : 0
        handles = Array(repeating: nil, count: list.count)
    }

    deinit { for h in handles { if let h { he_close(h) } } }

    func handle(_ i: Int) throws -> OpaquePointer {
        if let h = handles[i] { return h }
        guard let c = tls.withC({ he_open(endpoints[i], $0) }) else { throw HutchError("cannot set up an HTTP client (libcurl)") }
        handles[i] = c
        return c
    }

    /// One call of the gateway: the answer as JSON, or a one-line error naming etcd. No answer
    /// from the endpoint in use: the next ones are tried, each once.
    public func call(_ path: String, _ body: String) throws -> JSON {
        let (j, i) = try EtcdFailover.run(endpoints, from: current) { try callOne($0, path, body) }
        current = i
        return j
    }

    func callOne(_ i: Int, _ path: String, _ body: String) throws -> JSON {
        let endpoint = endpoints[i]
        let h = try handle(i)
        var status = 0
        var resp: UnsafeMutablePointer<CChar>?
        var err = [CChar](repeating: 0, count: Int(HE_ERRLEN))
        var fail = he_fail()
        let r = he_post(h, path, body, timeoutMS, &status, &resp, &err, &fail)
        defer { he_free(resp) }
        if r < 0 {
            // A connection that failed is not reused: the next call to this endpoint connects anew.
            he_close(h); handles[i] = nil
            throw EtcdError.unreachable(EtcdFailure.describe(endpoint: endpoint, tls: tls, code: fail.curl_code,
                                                             verify: Int(fail.verify_result), detail: cstr(err)))
        }
        let text = resp.map { String(cString: $0) } ?? ""
        guard let j = JSON.parse(text) else {
            throw EtcdError.server("etcd at \(endpoint) answered \(path) with HTTP \(status) and no JSON: \(text.prefix(200))")
        }
        if status != 200 {
            let msg = j["error"]?.stringValue ?? j["message"]?.stringValue ?? text
            throw EtcdError.server("etcd at \(endpoint): \(path): \(msg) (HTTP \(status))")
        }
        return j
    }

    /// Every key under `prefix`, and the store's revision they were read at.
    public func list(_ prefix: String) throws -> (revision: Int64, kvs: [KeyValue]) {
        let j = try call("/v3/kv/range", EtcdRequest.rangePrefix(prefix))
        return (j["header"]?["revision"]?.int64Value ?? 0, (j["kvs"]?.arrayValue ?? []).compactMap(KeyValue.init))
    }

    public func get(_ key: String) throws -> KeyValue? {
        let j = try call("/v3/kv/range", EtcdRequest.rangeKey(key))
        return (j["kvs"]?.arrayValue ?? []).compactMap(KeyValue.init).first
    }

    public func put(_ key: String, _ value: String, lease: Int64 = 0) throws {
        _ = try call("/v3/kv/put", EtcdRequest.put(key, value, lease: lease))
    }

    /// Puts `key` unless it exists: true if this call created it, else false and the existing key.
    public func createIfAbsent(_ key: String, _ value: String, lease: Int64 = 0, alsoPut: [(String, String)] = []) throws -> (created: Bool, existing: KeyValue?) {
        let j = try call("/v3/kv/txn", EtcdRequest.createIfAbsent(key, value, lease: lease, alsoPut: alsoPut))
        if j["succeeded"]?.boolValue ?? false { return (true, nil) }
        let kv = (j["responses"]?.arrayValue ?? []).compactMap { $0["response_range"]?["kvs"]?.arrayValue.first.flatMap(KeyValue.init) }.first
        return (false, kv)
    }

    public func putIfLease(_ key: String, _ value: String, lease: Int64) throws -> Bool {
        try call("/v3/kv/txn", EtcdRequest.putIfLease(key, value, lease: lease))["succeeded"]?.boolValue ?? false
    }

    /// Deletes `keys` if nothing is left under `prefix`; true if it did.
    public func deleteIfEmpty(_ prefix: String, keys: [String]) throws -> Bool {
        try call("/v3/kv/txn", EtcdRequest.deleteIfEmpty(prefix, keys: keys))["succeeded"]?.boolValue ?? false
    }

    public func delete(_ key: String) throws {
        _ = try call("/v3/kv/deleterange", EtcdRequest.deleteKey(key))
    }

    /// A new lease: its id.
    public func grant(ttl: Int) throws -> Int64 {
        let j = try call("/v3/lease/grant", EtcdRequest.grant(ttl: ttl))
        guard let id = j["ID"]?.int64Value, id != 0 else { throw EtcdError.server("etcd at \(endpoint) granted no lease") }
        return id
    }

    /// Renews a lease: its remaining TTL in seconds, 0 when it has expired (or never existed).
    public func keepAlive(_ id: Int64) throws -> Int64 {
        let j = try call("/v3/lease/keepalive", EtcdRequest.keepAlive(id))
        return j["result"]?["TTL"]?.int64Value ?? 0
    }

    /// The remaining TTL of a lease without renewing it: -1 (or 0) when it is gone.
    public func timeToLive(_ id: Int64) throws -> Int64 {
        let j = try call("/v3/lease/timetolive", EtcdRequest.timeToLive(id))
        return j["TTL"]?.int64Value ?? -1
    }

    /// Revokes a lease (its keys go with it). A lease already gone is fine.
    public func revoke(_ id: Int64) throws {
        do { _ = try call("/v3/lease/revoke", EtcdRequest.revoke(id)) } catch EtcdError.server(let m) where m.contains("lease not found") {}
    }
}

public enum EtcdError: Error, CustomStringConvertible {
    /// No answer: refused, timed out, unreachable.
    case unreachable(String)
    /// An answer that is an error.
    case server(String)
    public var description: String {
        switch self { case .unreachable(let m), .server(let m): return m }
    }
}

/// A watch: one streaming POST /v3/watch, read without blocking for longer than asked.
public final class EtcdWatch {
    let s: OpaquePointer
    let endpoint: String
    let tls: EtcdTLS
    var splitter = JSONStreamSplitter()

    public init(endpoint: String, tls: EtcdTLS = .none, prefix: String, from revision: Int64, connectTimeoutMS: Int = 2000) throws {
        var err = [CChar](repeating: 0, count: Int(HE_ERRLEN))
        let body = EtcdRequest.watch(prefix, from: revision)
        guard let s = tls.withC({ he_stream_open(endpoint, $0, "/v3/watch", body, connectTimeoutMS, &err) }) else {
            throw EtcdError.unreachable("etcd watch at \(endpoint): \(cstr(err))")
        }
        self.s = s; self.endpoint = endpoint; self.tls = tls
    }

    deinit { he_stream_close(s) }

    /// Waits up to `timeoutMS` for messages, or for `wakeFD` to be written to; returns the whole
    /// messages received. `ended`: the server closed the stream (re-list and watch again);
    /// `woken`: `wakeFD` was written to (and has been drained).
    public func poll(timeoutMS: Int, wakeFD: Int32 = -1) throws -> (messages: [String], ended: Bool, woken: Bool) {
        var data: UnsafeMutablePointer<CChar>?
        var len = 0
        var woken: Int32 = 0
        var err = [CChar](repeating: 0, count: Int(HE_ERRLEN))
        var fail = he_fail()
        let r = he_stream_poll(s, Int32(timeoutMS), wakeFD, &woken, &data, &len, &err, &fail)
        defer { he_free(data) }
        var msgs: [String] = []
        if let d = data, len > 0 {
            msgs = splitter.feed(Array(UnsafeBufferPointer(start: UnsafeRawPointer(d).assumingMemoryBound(to: UInt8.self), count: len)))
        }
        if r < 0 {
            throw EtcdError.unreachable(EtcdFailure.describe(endpoint: endpoint, tls: tls, code: fail.curl_code,
                                                             verify: Int(fail.verify_result), detail: cstr(err), what: "etcd watch"))
        }
        return (msgs, r == 1, woken != 0)
    }
}

/// The text of a NUL-terminated C buffer.
func cstr(_ a: [CChar]) -> String {
    String(decoding: a.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
