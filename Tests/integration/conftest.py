"""pytest fixtures for hutch's integration tests (root required).

`h`      a throwaway host (netns + state root) with the hutch binary under test; leak-checked.
`netns`  the same without hutch (the harness's own self-tests).

The binary: $HUTCH, else .build/debug/hutch in the repository.
"""
import os
import re
import subprocess
import sys
import warnings

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

HUTCH = os.path.abspath(os.environ.get("HUTCH") or os.path.join(harness.REPO, ".build", "debug", "hutch"))


def pytest_configure(config):
    if os.geteuid() != 0:
        pytest.exit("hutch's integration tests need root (namespaces, veths, firewall rules)", returncode=2)
    for tool in ("ip", "nsenter", "nft", "iptables-save", "curl", "pgrep"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], stdout=subprocess.DEVNULL).returncode != 0:
            pytest.exit(f"missing tool: {tool} (run `make deps`)", returncode=2)
    # The first `ip netns add` on a machine bind-mounts /run/netns onto itself, which would show
    # up as a mount "leak" of whichever test comes first: do it once up front.
    # Throwaway namespaces of earlier runs that were killed before their teardown (pid gone).
    for name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        m = re.fullmatch(r"hutch-[to]-(\d+)-[0-9a-f]+", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            subprocess.run(["ip", "netns", "del", name])
    warm = f"hutch-t-{os.getpid()}-warmup"
    subprocess.run(["ip", "netns", "add", warm], check=True)
    subprocess.run(["ip", "netns", "del", warm], check=True)


def pytest_unconfigure(config):
    if os.geteuid() == 0:
        harness.remove_empty_cgroup_parents()


def _leak_checked(hutch_bin):
    before = harness.root_snapshot()
    shims_before = harness.shim_pids()
    host = harness.Host(hutch_bin)
    return before, shims_before, host


def _finish(before, shims_before, host):
    problems = host.teardown()
    # New hutch-shim processes that are still alive and were not attributed to this test above
    # (its namespaces, its containers, its state root) may be another session's: warn only.
    try:
        harness.wait_until(lambda: not (harness.shim_pids() - shims_before), timeout=2, desc="new shims to exit")
    except harness.HarnessError:
        pass
    stray = harness.shim_pids() - shims_before
    if stray:
        warnings.warn(f"hutch-shim processes appeared during the test and are still alive "
                      f"(not in this test's namespaces): {harness.describe(sorted(stray))}")
    after = harness.root_snapshot()
    problems += harness.diff_snapshots(before, after, host.own_names)
    if problems:
        pytest.fail("LEAK CHECK FAILED:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def netns():
    before, shims, host = _leak_checked(None)
    try:
        yield host
    finally:
        _finish(before, shims, host)


@pytest.fixture
def h():
    if not (os.path.isfile(HUTCH) and os.access(HUTCH, os.X_OK)):
        pytest.fail(f"hutch binary not found at {HUTCH}: build it (`swift build`) or set HUTCH=/abs/path/hutch",
                    pytrace=False)
    before, shims, host = _leak_checked(HUTCH)
    try:
        yield host
    finally:
        _finish(before, shims, host)
