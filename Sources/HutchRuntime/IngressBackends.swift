import HutchModel
import HutchOS
import HutchState

extension Runtime {
    /// The endpoints each backend (`SERVICE:PORT`) resolves to: every endpoint of the service, on
    /// the target port of its port PORT (as ingress-nginx does, so that nginx balances and
    /// retries itself). `strict`: a service that does not exist, or has no such TCP port, is an
    /// error (create, update); otherwise that backend resolves to nothing (nginx answers 503).
    /// `serviceUpstream`: each backend resolves to its service's ClusterIP and port instead (one
    /// address that does not change with the endpoints).
    func resolveIngressBackends(_ backends: [IngressBackend], in db: Database, strict: Bool = true,
                                serviceUpstream: Bool = false) throws -> [IngressBackend: [UpstreamEndpoint]] {
        var out: [IngressBackend: [UpstreamEndpoint]] = [:]
        for b in Set(backends) {
            guard let s = try ServiceStore.find(b.service, in: db) else {
                if strict {
                    throw HutchError("no such service: \(b.service) (in backend \(b)): create it first (hutch service create \(b.service) --selector KEY=VALUE --port \(b.port))")
                }
                continue
            }
            guard let port = s.ports.first(where: { $0.port == b.port && $0.proto == .tcp }) else {
                if strict {
                    let have = s.ports.filter { $0.proto == .tcp }.map { String($0.port) }.joined(separator: ", ")
                    throw HutchError("service \(s.name) has no TCP port \(b.port) (in backend \(b)); its ports: \(have.isEmpty ? "none" : have)")
                }
                continue
            }
            if serviceUpstream {
                out[b] = [UpstreamEndpoint(ip: s.clusterIP, port: port.port)]
                continue
            }
            out[b] = try ServiceStore.endpoints(of: s.name, in: db).map { UpstreamEndpoint(ip: $0.ip, port: port.targetPort) }.sorted()
        }
        return out
    }

    /// `refreshIngresses` where a failure must not stop the caller (a container's exit, a
    /// service change): the line goes to stderr; the next change (or `ingress update`) retries.
    func refreshIngressesReporting(services: Set<String>?) {
        do { try refreshIngresses(services: services) } catch {
            Out.err("hutch: \(error)")
        }
    }

    /// One ingress's re-render, reported the same way.
    func refreshIngressesReporting(only name: String) {
        do { try applyIngressConfig(name: name) } catch {
            Out.err("hutch: updating ingress \(name) failed: \(error)")
        }
    }
}

/// The certificates an `ingress update` brings (PEM texts, read before anything changes):
/// a new default pair, and/or a new set of per-host ones (replacing every one).
struct IngressCertificates {
    /// A PEM text and where it came from (`--tls-key /path/key.pem`), for nginx's complaints.
    struct PEM {
        var text: String
        var origin: String
    }
    var defaultPair: (cert: PEM, key: PEM)?
    var hosts: [(host: String, cert: PEM, key: PEM)]?
}
