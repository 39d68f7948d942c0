// hutch-shim: putting a process into the container's cgroup (cgroup.c). The CLI creates the
// cgroup(s) and writes the limits; the shim moves the container's first process in before it
// runs anything (`--cgroup DIR`: one directory per v1 hierarchy, or the v2 one). Uses proc.c.
#pragma once

#include <sys/types.h>

// Writes pid to DIR/cgroup.procs for each directory; 0 on success, else errno (and *failed is
// the directory).
int cgroup_enter(pid_t pid, const char **dirs, int n, const char **failed);
