"""Issue 18: the sandbox, behavioural. --read-only and --tmpfs, volumes (-v, --mount), Docker's
masked and read-only /proc paths, --user/--group-add, the default seccomp profile and its
alternatives, cgroup limits (memory with OOM, pids, cpus), --rootfs DIR[:O], exec joining the
same, and cgroups gone with the container. Every test runs in the harness's throwaway host netns
and state root, leak-checked (cgroups included)."""
import json
import os
import subprocess
import time

import pytest

from harness import wait_until

KEYCTL = ("import ctypes; l = ctypes.CDLL(None, use_errno=True); "
          "r = l.syscall(250, 0, 0, 0, 0, 0); print('keyctl', r, ctypes.get_errno())")
EPERM, EINVAL = 1, 22
MODES = [["--net", "none"], ["--net", "host"], []]  # none, host, bridge


def cgroup_dirs(cid):
    out = []
    for base in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup",
                 "/sys/fs/cgroup/unified"):
        d = f"{base}/hutch/{cid}"
        if os.path.isdir(d):
            out.append(d)
    return out


@pytest.mark.parametrize("mode", MODES, ids=["none", "host", "bridge"])
def test_read_only_and_tmpfs(h, mode):
    probe = f"/etc/hutch-ro-probe-{os.getpid()}"
    r = h.hutch("run", "--rm", *mode, "--read-only", "--tmpfs", "/tmp:size=1m", "--",
                "sh", "-c", f"touch {probe}; echo rc=$?; echo private > /tmp/x && cat /tmp/x; "
                            "grep ' /tmp ' /proc/mounts | cut -d' ' -f3", check=False)
    assert r.rc == 0, r
    assert "rc=1" in r.out and "Read-only file system" in r.err
    assert "private\ntmpfs" in r.out
    assert not os.path.exists(probe)
    # The host's /tmp never saw the tmpfs's file (private), and the host stays writable.
    assert not os.path.exists("/tmp/x") or open("/tmp/x").read() != "private\n"


def test_tmpfs_writable_without_read_only_and_private(h):
    r = h.hutch("run", "--rm", "--net", "none", "--tmpfs", h.tmp, "--", "sh", "-c", f"echo in > {h.tmp}/f && cat {h.tmp}/f")
    assert r.out == "in\n"
    assert not os.path.exists(f"{h.tmp}/f")


def test_volumes_ro_and_rw(h):
    src_rw = os.path.join(h.tmp, "rw"); os.mkdir(src_rw)
    src_ro = os.path.join(h.tmp, "ro"); os.mkdir(src_ro)
    open(os.path.join(src_ro, "given"), "w").write("hello\n")
    # targets: existing directories inside the container (the host's root): the shared tmp dir's
    # own subfolders
    r = h.hutch("run", "--rm", "--net", "none", "--read-only",
                "-v", f"{src_rw}:{src_rw}", "--mount", f"type=bind,source={src_ro},target={src_ro},readonly", "--",
                "sh", "-c", f"echo through > {src_rw}/w; cat {src_ro}/given; touch {src_ro}/no; echo ro=$?", check=False)
    assert r.rc == 0, r
    assert "hello" in r.out and "ro=1" in r.out
    assert open(os.path.join(src_rw, "w")).read() == "through\n"
    assert not os.path.exists(os.path.join(src_ro, "no"))
    # a read-only volume cannot be remounted writable from inside without CAP_SYS_ADMIN
    r = h.hutch("run", "--rm", "--net", "none", "-v", f"{src_ro}:{src_ro}:ro", "--",
                "sh", "-c", f"mount -o remount,rw {src_ro}; touch {src_ro}/no2; echo rc=$?", check=False)
    assert "rc=1" in r.out and not os.path.exists(os.path.join(src_ro, "no2"))


def test_inspect_reports_sandbox(h):
    src = os.path.join(h.tmp, "v"); os.mkdir(src)
    cid = h.run_d("--name", "insp", "--net", "none", "--read-only", "--tmpfs", "/mnt:size=1m", "-v", f"{src}:{src}:ro",
                  "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--user", "nobody",
                  "--security-opt", "seccomp=unconfined", "--", "sleep", "100")
    try:
        c = h.inspect("insp")
        hc = c["HostConfig"]
        assert hc["ReadonlyRootfs"] is True
        assert hc["Memory"] == 64 << 20 and hc["NanoCpus"] == 500_000_000 and hc["PidsLimit"] == 50
        assert hc["Binds"] == [f"{src}:{src}:ro"] and hc["Tmpfs"] == {"/mnt": "size=1m"}
        assert hc["SecurityOpt"] == ["seccomp=unconfined"]
        assert c["Config"]["User"] == "nobody"
        assert {m["Destination"] for m in c["Mounts"]} == {src, "/mnt"}
        assert c["State"]["OOMKilled"] is False
        assert cgroup_dirs(cid), "no cgroup for a running container"
    finally:
        h.hutch("rm", "-f", "insp")
    assert cgroup_dirs(cid) == []


def test_masked_and_read_only_proc_paths(h):
    r = h.hutch("run", "--rm", "--net", "none", "--", "sh", "-c",
                "cat /proc/keys | wc -c; ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname; echo rc=$?",
                check=False)
    lines = r.out.split()
    assert lines[0] == "0" and lines[1] == "0", r  # /proc/keys is /dev/null, /sys/firmware empty
    assert "rc=0" not in r.out and "Read-only file system" in r.err
    r = h.hutch("run", "--rm", "--net", "none", "--privileged", "--", "sh", "-c", "ls /sys/firmware | wc -l")
    assert int(r.out) > 0


def test_user_group_add_and_workdir(h):
    r = h.hutch("run", "--rm", "--net", "none", "--user", "nobody", "--group-add", "users", "-w", "/usr", "--",
                "sh", "-c", "id -u; id -g; id -G; pwd; grep CapEff /proc/self/status; touch /etc/passwd; echo rc=$?",
                check=False)
    out = r.out.split("\n")
    assert out[0] == "65534" and out[1] == "65534"
    assert "100" in out[2].split()
    assert out[3] == "/usr"
    assert out[4].split()[1] == "0000000000000000"
    assert "rc=1" in r.out
    r = h.hutch("run", "--rm", "--net", "none", "--user", "1234:4321", "--", "sh", "-c", "id -u; id -g")
    assert r.out == "1234\n4321\n"


@pytest.mark.parametrize("mode", MODES, ids=["none", "host", "bridge"])
def test_default_seccomp_and_unconfined(h, mode):
    r = h.hutch("run", "--rm", *mode, "--", "python3", "-c", KEYCTL)
    assert r.out.split() == ["keyctl", "-1", str(EPERM)], r
    r = h.hutch("run", "--rm", *mode, "--security-opt", "seccomp=unconfined", "--", "python3", "-c", KEYCTL)
    assert r.out.split()[2] != str(EPERM), r
    # unshare of a user namespace refused, as under Docker
    r = h.hutch("run", "--rm", *mode, "--", "unshare", "-U", "true", check=False)
    assert r.rc != 0


def test_seccomp_profile_json(h):
    prof = os.path.join(h.tmp, "p.json")
    json.dump({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
               "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]},
              open(prof, "w"))
    r = h.hutch("run", "--rm", "--net", "none", "--tmpfs", "/tmp", "--security-opt", f"seccomp={prof}", "--",
                "python3", "-c", KEYCTL + "\nimport os\ntry:\n os.mkdir('/tmp/d')\nexcept OSError as e: print('mkdir', e.errno)")
    assert "mkdir 13" in r.out
    assert r.out.split()[2] != str(EPERM)  # keyctl no longer refused: this profile replaces the default


def test_exec_joins_user_seccomp_cgroup(h):
    cid = h.run_d("--name", "ex", "--net", "none", "--user", "nobody", "--pids-limit", "20", "--", "sleep", "100")
    try:
        r = h.hutch("exec", "ex", "sh", "-c", "id -u; cat /proc/self/cgroup | grep pids")
        assert r.out.split("\n")[0] == "65534"
        assert cid in r.out
        r = h.hutch("exec", "ex", "python3", "-c", KEYCTL)
        assert r.out.split() == ["keyctl", "-1", str(EPERM)]
    finally:
        h.hutch("rm", "-f", "ex")


def test_memory_limit_oom(h):
    r = h.hutch("run", "--name", "oom", "--net", "none", "--memory", "32m", "--memory-swap", "32m", "--",
                "python3", "-c", "x = bytearray(256 << 20); print('survived')", check=False)
    assert r.rc == 137, r
    c = h.inspect("oom")
    assert c["State"]["OOMKilled"] is True and c["State"]["ExitCode"] == 137
    cid = c["Id"]
    h.hutch("rm", "oom")
    assert cgroup_dirs(cid) == []
    r = h.hutch("run", "--rm", "--net", "none", "--", "python3", "-c", "x = bytearray(256 << 20); print('survived')")
    assert r.out == "survived\n"


def test_pids_limit(h):
    r = h.hutch("run", "--rm", "--net", "none", "--pids-limit", "8", "--", "python3", "-c",
                "import os, time\nn = 0\ntry:\n for i in range(30):\n  if os.fork() == 0:\n   time.sleep(2); os._exit(0)\n  n += 1\nexcept OSError as e: print('fork failed', e.errno)\nprint('forked', n)",
                check=False)
    assert "fork failed 11" in r.out, r
    assert int(r.out.split("forked ")[1]) < 8


def test_cpus_quarter(h):
    r = h.hutch("run", "--rm", "--net", "none", "--cpus", "0.25", "--", "python3", "-c",
                "import time, os\nt = time.time()\nwhile time.time() - t < 2: pass\nc = os.times()\nprint(c.user + c.system)",
                timeout=60)
    used = float(r.out)
    assert 0.2 < used < 1.0, f"a busy loop used {used:.2f} s of CPU in 2 s under --cpus 0.25"


def test_cgroup_gone_after_run_and_failed_run(h):
    cid = h.run_d("--name", "cg", "--net", "none", "--memory", "64m", "--", "sleep", "100")
    dirs = cgroup_dirs(cid)
    assert dirs and all(str(64 << 20) in open(f"{d}/memory.limit_in_bytes").read() for d in dirs if "memory" in d)
    h.hutch("rm", "-f", "cg")
    assert cgroup_dirs(cid) == []
    # a failing step after the cgroup was made (the command's workdir is missing) undoes it
    r = h.hutch("run", "--rm", "--net", "none", "--memory", "64m", "-w", "/nonexistent-hutch", "--", "true", check=False)
    assert r.rc == 125
    # (the leak check compares every hutch cgroup before and after)


def make_rootfs(path):
    """A tiny root: /usr, /bin, /lib... of the host bound read-only isn't ours to create; copy a
    static busybox-like set: the host's sh and its libraries."""
    os.makedirs(path)
    for d in ("bin", "lib", "lib64", "usr", "etc", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    subprocess.run(["cp", "-a", "/usr/bin/dash", os.path.join(path, "bin/sh")], check=True)
    for line in subprocess.run(["ldd", "/usr/bin/dash"], capture_output=True, text=True).stdout.splitlines():
        for p in line.split():
            if p.startswith("/"):
                dst = os.path.join(path, p.lstrip("/"))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                subprocess.run(["cp", "-L", p, dst], check=True)
    open(os.path.join(path, "etc/passwd"), "w").write("root:x:0:0:root:/root:/bin/sh\napp:x:777:778::/:/bin/sh\n")
    open(os.path.join(path, "etc/group"), "w").write("root:x:0:\napp:x:778:\n")
    open(os.path.join(path, "marker"), "w").write("rootfs\n")


def test_rootfs_and_overlay(h):
    root = os.path.join(h.tmp, "rootfs")
    make_rootfs(root)
    r = h.hutch("run", "--rm", "--rootfs", root, "--user", "app", "--", "/bin/sh", "-c",
                "read m < /marker; echo $m; echo $(id -u 2>/dev/null || echo noid); "
                "for f in /dev/null /dev/urandom /dev/pts /dev/shm /etc/hosts /proc/self; do [ -e $f ] && echo has $f; done; "
                "[ -e /usr/bin/python3 ] || echo no-host-usr")
    assert r.out.startswith("rootfs\n")
    for f in ("/dev/null", "/dev/urandom", "/dev/pts", "/dev/shm", "/etc/hosts", "/proc/self"):
        assert f"has {f}" in r.out
    assert "no-host-usr" in r.out
    before = sorted(os.listdir(root))
    r = h.hutch("run", "--rm", "--net", "none", "--rootfs", root + ":O", "--", "/bin/sh", "-c",
                "echo changed > /marker; echo new > /newfile; read m < /marker; echo $m")
    assert r.out == "changed\n"
    assert open(os.path.join(root, "marker")).read() == "rootfs\n"
    assert sorted(os.listdir(root)) == before
    r = h.hutch("run", "--rm", "--net", "none", "--rootfs", root, "--read-only", "--", "/bin/sh", "-c",
                "echo x > /marker; echo rc=$?", check=False)
    assert "rc=2" in r.out or "rc=1" in r.out
    assert open(os.path.join(root, "marker")).read() == "rootfs\n"
