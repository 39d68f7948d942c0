"""A CLI that dies mid-run must not leak: the shim notices and cleans up when the container ends."""
import os
import signal

from harness import ppid_of, wait_until


def test_foreground_cli_killed_then_container_exits(h):
    go = os.path.join(h.tmp, "go")
    started = os.path.join(h.tmp, "started")
    p = h.hutch_bg("run", "--rm", "--name", "orphan", *h.share(), "--", "sh", "-c",
                   f"touch {started}; while [ ! -e {go} ]; do sleep 0.1; done")
    wait_until(lambda: os.path.exists(started), desc="the container to start")
    h.remember("orphan")
    p.send_signal(signal.SIGKILL)  # the CLI only; the shim and the container live on
    p.wait(10)
    open(go, "w").close()
    # When the container ends, the shim runs the cleanup the dead CLI would have run (--rm).
    h.wait_no_veths(desc="the veth to be deleted")
    wait_until(lambda: h.ps_ids(all=True) == [], desc="the --rm container to be removed")
    wait_until(lambda: h.state_entries() == [], desc="its state to be removed")
    wait_until(lambda: h.leftover_processes() == [], desc="the shim to exit")


def test_shim_killed_next_command_repairs(h):
    cid = h.run_d("--name", "victim", "--", "sleep", "300")
    c = h.inspect(cid)
    pid = c["State"]["Pid"]
    # SIGKILL the monitor and the container (a crash): nothing will clean up by itself.
    os.kill(ppid_of(pid), signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: h.leftover_processes() == [], desc="the killed processes to go")
    # the next hutch commands see the container as exited, and rm cleans everything
    st = wait_until(lambda: (lambda s: s if s["Status"] == "exited" else None)(h.inspect("victim")["State"]),
                    desc="hutch to notice the container died")
    assert st["Running"] is False
    h.hutch("rm", "victim")
    h.wait_no_veths()
    assert h.state_entries() == []
    # and its IP and name are free again
    h.run_d("--name", "victim", "--", "sleep", "300")


def test_gc_deletes_a_veth_left_by_a_cli_killed_before_it_exited(h):
    # The veth of a removed container is deleted by a helper hutch spawns as it exits (or, with
    # the container's netns, by the kernel). A CLI killed after the teardown but before its exit,
    # while something outside hutch holds the netns (here a process that entered it), leaves the
    # veth on the bridge: `hutch gc` finds and deletes it, and keeps the veths of live containers.
    cid = h.run_d("--name", "held", "--", "sleep", "300")
    pid = h.inspect(cid)["State"]["Pid"]
    # (nsenter execs nsenter execs sleep: the keeper's pid ends up in the container's netns)
    keeper = h.bg(["nsenter", f"--net=/proc/{pid}/ns/net", "sleep", "300"])
    wait_until(lambda: os.readlink(f"/proc/{keeper.pid}/ns/net") == os.readlink(f"/proc/{pid}/ns/net"),
               desc="the keeper to enter the container's netns")
    other = h.run_d("--name", "bystander", "--", "sleep", "300")
    r = h.hutch("rm", "-f", "held", check=False, env={"HUTCH_FAULT": "rm.after-detach"})
    assert r.rc != 0, r
    assert h.veth_name(cid) in h.links(), "the netns is held and the CLI died: the veth cannot have gone"
    g = h.hutch("gc")
    assert f"veth {h.veth_name(cid)} of a vanished container deleted" in g.out, g.out
    assert h.veth_name(cid) not in h.links()
    assert h.veth_name(other) in h.links(), "gc must keep the veths of running containers"
    assert h.hutch("gc").out.strip() == "nothing to clean"


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_rm_f_of_a_container_being_created_makes_its_run_undo_itself(h):
    """`rm -f` while `hutch run` is between spawning the shim and recording the container as
    running (HUTCH_FAULT=...:stop holds it there): the record goes, and the run, let go on, finds
    its record gone, undoes everything it made (veth, rules, shim, folder) and exits 125."""
    p = h.hutch_bg("run", "-d", "--name", "racing", "-p", "18097:80", "--", "sleep", "300",
                   env={"HUTCH_FAULT": "run.after-spawn:stop"})
    wait_until(lambda: proc_state(p.pid) == "T", desc="the run to stop at run.after-spawn")
    assert h.hutch("ps", "-aq").out.split(), "the record exists while the run is held"
    r = h.hutch("rm", "racing", check=False)
    assert r.rc == 125 and "being created" in r.err, r
    h.hutch("rm", "-f", "racing")
    assert h.hutch("ps", "-aq").out.split() == []
    os.kill(p.pid, signal.SIGCONT)
    assert p.wait(20) == 125, p.output()
    assert "was removed while it was being created" in p.output(), p.output()
    assert h.hutch("ps", "-aq").out.split() == []
    h.wait_no_veths()
