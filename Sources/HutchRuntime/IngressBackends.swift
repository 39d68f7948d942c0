import HutchModel
import HutchOS
import HutchState

extension Runtime {
    /// The endpoints each backend (`SERVICE:PORT`) resolves to. `strict`: a backend naming a
    /// service that does not exist is an error (create, update); otherwise it resolves to no
    /// endpoints (nginx answers 503 there).
    func resolveIngressBackends(_ backends: [IngressBackend], in db: Database,
                                strict: Bool = true) throws -> [IngressBackend: [UpstreamEndpoint]] {
        // Services (issue 15) are not on this branch yet: no backend resolves.
        [:]
    }
}
