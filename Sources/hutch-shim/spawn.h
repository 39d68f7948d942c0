// hutch-shim run: clone the container's first process, sync with the CLI, monitor it (spawn.c).
// Uses child.c, monitor.c, caps.c and proc.c.
#pragma once

#include "child.h"

// Never returns: exits with the container's code, or 125.
__attribute__((noreturn)) void run_container(struct run_spec *spec);
