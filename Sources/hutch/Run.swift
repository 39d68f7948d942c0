import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

enum Run {
    static let detach = CLIOption.flag("-d, --detach", "Run in the background and print the container id.")
    static let interactive = CLIOption.flag("-i, --interactive", "Keep stdin attached (without it the container's stdin is empty).")
    static let tty = CLIOption.flag("-t, --tty", "Allocate a pseudo-terminal (with -i: an interactive shell, hutch run -it --rm -- bash).")
    static let autoRemove = CLIOption.flag("--rm", "Remove the container when it exits.")
    static let name = CLIOption.value("--name", "Assign a name to the container.")
    static let hostname = CLIOption.value("-h, --hostname", "Container host name (default: the short id).")
    static let network = CLIOption.value("--network, --net", "bridge (default), host, none, container:NAME, or a network's name.", as: "mode")
    static let env = CLIOption.list("-e, --env", "Set an environment variable (KEY=VALUE, or KEY to pass the caller's).", as: "env")
    static let workdir = CLIOption.value("-w, --workdir", "Working directory inside the container.", as: "dir")
    static let publish = CLIOption.list("-p, --publish", "Publish a port: [hostIP:][hostPort:]containerPort[/tcp|udp], ranges allowed.", as: "spec")
    static let pod = CLIOption.value("--pod", "Join a pod's network, UTS and IPC namespaces.")
    static let ip = CLIOption.value("--ip", "Static IPv4 address on a user-defined network.")
    static let networkAlias = CLIOption.list("--network-alias", "Extra name on a user-defined network.", as: "alias")
    static let capAdd = CLIOption.list("--cap-add", "Add a Linux capability (or ALL).", as: "cap")
    static let capDrop = CLIOption.list("--cap-drop", "Drop a Linux capability (or ALL).", as: "cap")
    static let privileged = CLIOption.flag("--privileged", "Keep every capability and allow privilege gain (no no_new_privs).")
    static let useInit = CLIOption("--init", .flag(negatable: true), help: "Run a tiny init as PID 1 that forwards signals and reaps zombies.")
    static let expose = CLIOption.list("--expose", "Expose a container port or range (PORT[/tcp|udp]); -P publishes it.", as: "port")
    static let publishAll = CLIOption.flag("-P, --publish-all", "Publish every --expose port on a free host port.")
    static let replace = CLIOption.flag("--replace", "Remove a container of the same --name first (force).")
    static let envFile = CLIOption.list("--env-file", "Read environment variables from a file (KEY=VALUE lines, KEY alone passes the caller's, # comments).", as: "file")
    static let addHost = CLIOption.list("--add-host", "Add a line to /etc/hosts (NAME:IP, or NAME:host-gateway).", as: "host:ip")
    static let dns = CLIOption.list("--dns", "Nameserver for /etc/resolv.conf (instead of the host's).", as: "ip")
    static let restart = CLIOption.value("--restart", "Restart policy: no (default), on-failure[:MAX-RETRIES], always, unless-stopped (needs -d).", as: "policy")
    static let commandLine = CLIArgument("COMMAND", .command, "The command and its arguments.")

    static let command = CLICommand(
        "run", abstract: "Run a command in new namespaces (bridge networking by default).",
        discussion: "Example: hutch run --rm --name web -- python3 -m http.server 8000",
        options: [detach, interactive, tty, autoRemove, name, hostname, network, env, workdir, publish, pod, ip, networkAlias,
                  capAdd, capDrop, privileged, useInit, Labeling.label, Labeling.labelFile, expose, publishAll, replace,
                  envFile, addHost, dns, restart] + Sandboxing.options,
        arguments: [commandLine]
    ) { a in
        var o = RunOptions()
        o.name = a.value(name); o.hostname = a.value(hostname); o.workdir = a.value(workdir)
        // --env-file first, -e over it (as Docker).
        o.env = try EnvFile.entries(files: a.list(envFile), read: { Sys.readFile($0) }, lookup: Environment.get) + a.list(env)
        o.extraHosts = try a.list(addHost).map { try ExtraHost(parsing: $0) }
        o.dns = try a.list(dns).map { d in
            guard let ip = IPv4Address(d) else { throw HutchError("invalid --dns \"\(d)\": use an IPv4 address such as 192.0.2.53") }
            return ip
        }
        if let n = a.value(network) { o.network = try NetworkMode(parsing: n); o.networkGiven = true }
        o.publish = try a.list(publish).map { try PublishSpec.parse($0) }
        o.ip = try a.value(ip, IPv4Address.init, expect: "use an IPv4 address")
        o.interactive = a.flag(interactive); o.tty = a.flag(tty)
        try RunOptions.checkTerminal(interactive: o.interactive, tty: o.tty, detach: a.flag(detach), stdinIsTerminal: isatty(0) == 1)
        o.detach = a.flag(detach); o.autoRemove = a.flag(autoRemove); o.useInit = a.flag(useInit); o.pod = a.value(pod)
        o.aliases = a.list(networkAlias); o.command = a.all(commandLine)
        o.labels = try Labeling.labels(a)
        o.replace = a.flag(replace)
        if let r = a.value(restart) { o.restart = try RestartPolicy(parsing: r) }
        o.exposed = try a.list(expose).flatMap { try ExposeSpec.parse($0) }
        o.publishAll = a.flag(publishAll)
        if o.publishAll { o.publish += ExposeSpec.publishAll(o.exposed, besides: o.publish) }
        let mask = try Capabilities.mask(add: a.list(capAdd), drop: a.list(capDrop))  // (checks the names, also with --privileged)
        if a.flag(privileged) {
            o.capMask = nil
            o.noNewPrivs = false
        } else {
            // Never more than the caller holds: `--cap-add ALL` means all of the bounding set.
            o.capMask = Capabilities.hex(mask & Capabilities.callerBounding())
        }
        o.sandbox = try Sandboxing.parse(a, privileged: a.flag(privileged))
        // Everything that can be checked without the state store is checked before it is opened
        // (or, on first use, created).
        let checked = try o.validated()
        let status = try Global.runtime(a).run(checked) { started in
            if o.detach { print(started.id) }
        }
        if status != 0 { throw ExitStatus(status) }
    }
}
