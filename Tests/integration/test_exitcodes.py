"""Docker's exit-code convention: the command's status, 125 hutch's own error, 126 cannot
invoke, 127 not found; errors are one line on stderr starting `hutch: `; a failed run creates
nothing."""
import os

import pytest


def assert_hutch_error(res, rc=125):
    assert res.rc == rc, f"rc={res.rc}, want {rc}; stdout={res.out!r} stderr={res.err!r}"
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hutch: "), f"want one `hutch: ` line on stderr, got {res.err!r}"


def assert_nothing_created(h):
    assert h.ps_ids(all=True) == [], h.hutch("ps", "-a").out
    assert h.links("veth") == [], h.sh("ip -o link").out
    assert h.state_entries() == []
    assert h.leftover_processes() == []


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_status_of_the_command(h, code):
    r = h.hutch("run", "--rm", "--", "sh", "-c", f"exit {code}", check=False)
    assert r.rc == code, r


def test_exit_status_true_false(h):
    assert h.hutch("run", "--rm", "--", "true", check=False).rc == 0
    assert h.hutch("run", "--rm", "--", "false", check=False).rc == 1


def test_killed_by_signal_is_128_plus_n(h):
    r = h.hutch("run", "--rm", "--", "sh", "-c", "kill -KILL $$", check=False)
    assert r.rc == 137, r


@pytest.mark.parametrize("args", [
    ["run", "--bogus-flag", "--", "true"],
    ["run", "--net", "nosuchmode", "--", "true"],
    ["run", "--net", "container:missing", "--", "true"],
    ["run", "--rm", "--net", "container:missing", "--", "true"],
    ["nosuchcommand"],
    ["ps", "--bogus-flag"],
    ["run"],
], ids=["bad-flag", "bad-net", "container-missing", "container-missing-rm", "bad-subcommand", "ps-bad-flag", "run-no-cmd"])
def test_hutch_errors_are_125_and_create_nothing(h, args):
    assert_hutch_error(h.hutch(*args, check=False))
    assert_nothing_created(h)


@pytest.mark.parametrize("verb", [
    ["inspect"], ["stop"], ["kill"], ["rm"], ["rm", "-f"], ["wait"], ["logs"], ["exec", "{}", "true"],
], ids=lambda v: "-".join(v).replace("{}", "x"))
def test_unknown_container_is_125(h, verb):
    args = [a if a != "{}" else "nosuchcontainer" for a in verb]
    if "nosuchcontainer" not in args:
        args.append("nosuchcontainer")
    assert_hutch_error(h.hutch(*args, check=False))


def test_duplicate_name_is_125_and_keeps_the_first(h):
    cid = h.run_d("--name", "dup", "--", "sleep", "300")
    r = h.hutch("run", "--name", "dup", "--", "true", check=False)
    assert_hutch_error(r)
    r = h.hutch("run", "-d", "--rm", "--name", "dup", "--", "sleep", "300", check=False)
    assert_hutch_error(r)
    assert h.ps_ids(all=True) == [cid[:12]]
    assert h.links("veth") == [h.veth_name(cid)]
    assert h.inspect("dup")["State"]["Running"] is True


def not_executable(h, text):
    """A script in the host's temporary folder without the executable bit."""
    path = os.path.join(h.tmp, "notexec.sh")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


@pytest.mark.parametrize("command,rc", [
    (None, 126),  # None: a script without the executable bit (not_executable)
    ("/usr", 126),
    ("no-such-command-hutch-test", 127),
    ("/nonexistent/bin/x", 127),
], ids=["not-executable-126", "directory-126", "missing-command-127", "missing-absolute-path-127"])
def test_cannot_invoke_is_126_not_found_is_127(h, command, rc):
    command = command or not_executable(h, "#!/bin/sh\necho hi\n")
    r = h.hutch("run", "--rm", *h.share(), "--", command, check=False)
    assert r.rc == rc, r
    assert r.err.startswith("hutch: ") and r.err.count("\n") == 1 and command in r.err, r.err
    assert_nothing_created(h)


def test_missing_command_in_none_and_host_modes(h):
    for net in ("none", "host"):
        r = h.hutch("run", "--rm", "--net", net, "--", "no-such-command-hutch-test", check=False)
        assert r.rc == 127, (net, r)
    assert_nothing_created(h)


def test_exec_exit_codes(h):
    h.run_d("--name", "c", *h.share(), "--", "sleep", "300")
    assert h.hutch("exec", "c", "sh", "-c", "exit 4", check=False).rc == 4
    assert h.hutch("exec", "c", "no-such-command-hutch-test", check=False).rc == 127
    assert h.hutch("exec", "c", not_executable(h, "#!/bin/sh\n"), check=False).rc == 126


def test_exec_into_stopped_container_is_125(h):
    h.hutch("run", "--name", "done", "--", "true")
    assert_hutch_error(h.hutch("exec", "done", "true", check=False))


def test_join_stopped_container_is_125(h):
    h.hutch("run", "--name", "stopped", "--", "true")
    assert_hutch_error(h.hutch("run", "--rm", "--net", "container:stopped", "--", "true", check=False))
    assert h.ps_ids(all=True) == [h.inspect("stopped")["Id"][:12]]
    assert h.links("veth") == []


def test_hostname_with_container_mode_is_125(h):
    # Docker: "conflicting options: hostname and the network mode"
    h.run_d("--name", "base", "--", "sleep", "300")
    assert_hutch_error(h.hutch("run", "--rm", "--hostname", "x", "--net", "container:base", "--", "true", check=False))
