import HutchModel
import HutchOS

/// etcd's client URLs as `--etcd` takes them: one, or a comma-separated list (flannel's
/// `-etcd-endpoints`, etcdctl's `--endpoints`), all of one scheme, no duplicates.
public enum EtcdEndpoints {
    /// The URLs of `text` (trailing slashes dropped), or a one-line error naming the bad one.
    public static func parse(_ text: String, flag: String = "--etcd") throws -> [String] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        var out: [String] = []
        for p in parts {
            var e = p.trimmingSpaces
            while e.hasSuffix("/") { e.removeLast() }
            guard e.hasPrefix("http://") || e.hasPrefix("https://"), e.split(separator: "/").count >= 2 else {
                let what = parts.count > 1 ? "invalid \(flag) \"\(text)\": \"\(p)\" is not a URL" : "invalid \(flag) \"\(text)\""
                throw HutchError("\(what): use a URL such as http://10.0.0.254:2379, or a comma-separated list of them")
            }
            if out.contains(e) {
                throw HutchError("invalid \(flag) \"\(text)\": \(e) is given twice: give each etcd member once")
            }
            if let first = out.first, scheme(first) != scheme(e) {
                throw HutchError("invalid \(flag) \"\(text)\": \(first) and \(e) differ in scheme: use https:// (or http://) for every member")
            }
            out.append(e)
        }
        return out
    }

    static func scheme(_ url: String) -> Substring { url.prefix(while: { $0 != ":" }) }

    /// How the list is written back: comma-separated, as given.
    public static func render(_ urls: [String]) -> String { urls.joined(separator: ",") }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// The order a call tries the endpoints in: the one in use first, then the ones after it
/// (wrapping), each once; it moves on only when a request got no answer (`EtcdError.unreachable`:
/// refused, timed out, TLS failure to connect). An answer from etcd, even an error, ends the call.
public enum EtcdFailover {
    /// `attempt(i)` on endpoint `start`, then the next ones: the first answer and the index of the
    /// endpoint that gave it. None answering: `EtcdError.unreachable` naming every endpoint (with
    /// one endpoint, its own message unchanged).
    public static func run<T>(_ endpoints: [String], from start: Int, _ attempt: (Int) throws -> T) throws -> (value: T, index: Int) {
        precondition(!endpoints.isEmpty)
        var failures: [String] = []
        for k in 0..<endpoints.count {
            let i = (start + k) % endpoints.count
            do {
                return (try attempt(i), i)
            } catch EtcdError.unreachable(let m) {
                failures.append(m)
            }
        }
        if failures.count == 1 { throw EtcdError.unreachable(failures[0]) }
        throw EtcdError.unreachable("etcd is unreachable at \(endpoints.joined(separator: ", ")) (\(failures.joined(separator: "; ")))")
    }
}
