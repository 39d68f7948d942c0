// hutch-shim: moving a process into cgroups (v1 and v2 both take a pid in cgroup.procs).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cgroup.h"
#include "proc.h"

int cgroup_enter(pid_t pid, const char **dirs, int n, const char **failed) {
    for (int i = 0; i < n; i++) {
        char path[4096], num[24];
        snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
        int len = snprintf(num, sizeof num, "%d", (int)pid);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, num, (size_t)len) != len) {
            int err = errno;
            if (fd >= 0) close(fd);
            *failed = dirs[i];
            return err;
        }
        close(fd);
    }
    return 0;
}
