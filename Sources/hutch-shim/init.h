// hutch-shim: what runs as PID 1 of a container when the command does not (init.c). Uses proc.c
// only.
#pragma once

// --init: forks the command; returns in the command's process, never returns in the init.
void init_fork_command(void);

// --pause: Kubernetes' pause.c; closes every fd >= 3 once set up; never returns.
__attribute__((noreturn)) void pause_main(void);
