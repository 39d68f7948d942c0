// hutch-shim linger: work the hutch CLI leaves behind (linger.c). Uses proc.c only.
#pragma once

// Deletes the named links, then waits for EOF on stdin; returns the exit code (0).
int linger_main(const char **links, int n);
