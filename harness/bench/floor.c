/* The C floor of one trial, the reference `clobber bench` measures its trials against: fork and
 * exec a minimal victim that dlopen()s LIB with RTLD_NOW, calls SYMBOL (int(void)) once and exits;
 * the parent waits for it with waitpid(). Equivalent to the project's reference floor.c.
 * Build: cc -O2 -o floor floor.c -ldl
 * Usage: floor N LIB SYMBOL   prints   floor_us_per_trial=<microseconds per trial over N> */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int run_victim(const char *lib, const char *symbol) {
    void *handle = dlopen(lib, RTLD_NOW);
    if (handle == NULL) return 2;
    int (*call)(void) = (int (*)(void))dlsym(handle, symbol);
    if (call == NULL) return 3;
    call();
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "victim") == 0) return run_victim(argv[2], argv[3]);
    if (argc != 4) {
        fprintf(stderr, "usage: floor N LIB SYMBOL\n");
        return 2;
    }
    int n = atoi(argv[1]);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", "floor", "victim", argv[2], argv[3], (char *)NULL);
            _exit(99);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "floor victim failed: status %d\n", status);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3 / n;
    printf("floor_us_per_trial=%.1f\n", us);
    return 0;
}
