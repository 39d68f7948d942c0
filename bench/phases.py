#!/usr/bin/env python3
"""Splits an `strace -f -ttt -T` timeline of `hutch run --rm [-p ...] -- true` into steps.

    bench/phases.py TRACE

The steps are cut at landmark system calls (the first one matching, in order, after the previous
cut), so the output reads as "where the milliseconds of one run go". strace slows every system
call down (a traced run takes ~1.5-2x as long as an untraced one): read the shares, not the
absolute numbers, and compare with bench.py's untraced medians.
"""
import re
import sys

# (step name, process it happens in, regex on the syscall text that ENDS the step)
LANDMARKS = [
    ("exec + dynamic linking (ld.so: sqlite, libnl, libnftables, libstdc++ ...)", "main", r"^set_robust_list\("),
    ("Swift runtime init + argument parsing + validation", "main", r'^openat\(.*hutch\.db"'),
    ("SQLite open + reservation transaction + /etc files", "main", r"^clone3\(\{flags=CLONE_VM\|CLONE_VFORK"),
    ("posix_spawn of the shim + shim start-up (until its clone)", "any", r"^clone\(.*CLONE_NEWNET"),
    ("clone(NEWNS|NEWUTS|NEWIPC|NEWPID|NEWNET) in the kernel", "any", r"^<\.\.\. clone resumed>|^clone\(.*= \d+"),
    ("hutch learns the pid (sync pipe, /proc/PID/stat)", "main", r"^socket\(AF_NETLINK"),
    ("network wiring: netlink (veth, addr, route) + nftables", "main", r'^write\(\d+, "G", 1\)'),
    ("child: hostname, mounts, caps, exec init, exec command, exit", "any", r"^exit_group\("),
    ("pid namespace + netns teardown until the shim reaps", "shim", r"^exit_group\("),
    ("hutch sees the exit (wait4)", "main", r"^<\.\.\. wait4 resumed>|^wait4\(.*= \d+"),
    ("teardown: firewall, veth delete (RTM_DELLINK), store transaction", "main", r"^unlink\(.*hutch\.db-shm"),
    ("SQLite close: WAL checkpoint + deleting -wal/-shm", "main", r"^exit_group\("),
]

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")


def parse(path):
    rows = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                rows.append((int(m.group(1)), float(m.group(2)), m.group(3)))
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = parse(sys.argv[1])
    if not rows:
        sys.exit("no strace lines (want: strace -f -ttt -T -o FILE ...)")
    main_pid, t0 = rows[0][0], rows[0][1]
    shim_pid = None
    for pid, _, text in rows:
        if pid != main_pid and text.startswith("execve(") and "hutch-shim" in text:
            shim_pid = pid
            break
    end = rows[-1][1]
    i, prev_t, out = 0, t0, []
    for name, who, pattern in LANDMARKS:
        rx = re.compile(pattern)
        j = i
        while j < len(rows):
            pid, t, text = rows[j]
            if (who == "any" or (who == "main" and pid == main_pid) or (who == "shim" and pid == shim_pid)) \
                    and rx.search(text):
                break
            j += 1
        if j == len(rows):
            out.append((name, None))
            continue
        out.append((name, (rows[j][1] - prev_t) * 1000))
        prev_t, i = rows[j][1], j + 1
    total = (end - t0) * 1000
    w = max(len(n) for n, _ in out)
    print(f"{'step'.ljust(w)}  {'ms':>6}  share")
    for name, ms in out:
        if ms is None:
            print(f"{name.ljust(w)}  {'-':>6}  (landmark not found)")
        else:
            print(f"{name.ljust(w)}  {ms:6.1f}  {100 * ms / total:4.0f}%")
    rest = (end - prev_t) * 1000
    if rest > 0.05:
        print(f"{'(after the last landmark)'.ljust(w)}  {rest:6.1f}  {100 * rest / total:4.0f}%")
    print(f"{'total (traced)'.ljust(w)}  {total:6.1f}")
    # the firewall: NETLINK_NETFILTER batches (libnftables) and their kernel time
    nf_socks = {}
    nf_time, nf_msgs = 0.0, 0
    for pid, t, text in rows:
        m = re.match(r"socket\(AF_NETLINK, .*NETLINK_NETFILTER\) = (\d+)", text)
        if m:
            nf_socks[(pid, m.group(1))] = True
        m = re.match(r"close\((\d+)\)", text)
        if m and (pid, m.group(1)) in nf_socks:
            del nf_socks[(pid, m.group(1))]  # fd numbers are reused (netlink route sockets)
            d = re.search(r"<(\d+\.\d+)>$", text)
            nf_close = float(d.group(1)) * 1000 if d else 0.0
            nf_time += nf_close
            continue
        m = re.match(r"(?:sendmsg|sendto)\((\d+), .*<(\d+\.\d+)>$", text)
        if m and (pid, m.group(1)) in nf_socks:
            nf_msgs += 1
            nf_time += float(m.group(2)) * 1000
    print(f"\nnftables: {nf_msgs} batches sent on NETLINK_NETFILTER sockets; {nf_time:.1f} ms in the kernel "
          f"(send + close: closing the socket after a delete waits for the commit's release)")
    dl = [float(re.search(r"<(\d+\.\d+)>$", x).group(1)) * 1000 for _, _, x in rows
          if "RTM_DELLINK" in x and re.search(r"<(\d+\.\d+)>$", x)]
    if dl:
        print(f"veth delete (RTM_DELLINK): {sum(dl):.1f} ms in the kernel")
    slow = sorted(((float(re.search(r"<(\d+\.\d+)>$", x).group(1)) * 1000, pid, x) for pid, _, x in rows
                   if re.search(r"<(\d+\.\d+)>$", x) and not re.match(r"(wait4|read|rt_sigtimedwait|futex|clone3?|"
                                                                     r"<\.\.\.)", x)), reverse=True)[:8]
    print("slowest single system calls (excluding waits):")
    for ms, pid, x in slow:
        print(f"  {ms:6.2f} ms  {'hutch' if pid == main_pid else 'shim' if pid == shim_pid else 'child'}  {x[:110]}")


if __name__ == "__main__":
    main()
