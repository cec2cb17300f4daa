/* A static probe the integration tests copy into the busybox rootfs, to
 * make raw system calls from inside a container:
 *   probe sys NR [ARG...]     syscall(NR, ARG...)       (64-bit ABI)
 *   probe sys32 NR [ARG...]   int $0x80 with NR, ARG... (32-bit ABI, 6 args)
 *   (x32: probe sys with NR | 0x40000000)
 * Prints "ret=<r> errno=<name or 0>" and exits 0 when the call returned
 * >= 0, else 1. Numbers may be decimal or 0x hex.
 * Attacks of the escape suite, each printing "<what> ret=<r> errno=<name>":
 *   probe tiocsti PATH|-      TIOCSTI "id\n" into PATH's terminal (- : fd 0)
 *   probe keysearch DESC      look for the "user" key DESC from the session
 *                             keyring down */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* int $0x80 with all six arguments (ebx, ecx, edx, esi, edi, ebp). The
 * kernel's compat entry zeroes r8-r11 on the way out, so they are
 * clobbered; ebp (maybe the frame pointer) is swapped in and back out
 * through a register the kernel keeps. */
static long sys32(long nr, const long a[6]) {
#if defined(__x86_64__)
    long ret, a5 = a[5];
    __asm__ volatile("xchg %%rbp, %q[a5]\n\t"
                     "int $0x80\n\t"
                     "xchg %%rbp, %q[a5]"
                     : "=a"(ret), [a5] "+r"(a5)
                     : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
#else
    (void)nr; (void)a;
    return -ENOSYS;
#endif
}

static int report(const char *what, long ret, int err) {
    printf("%s ret=%ld errno=%s\n", what, ret, err ? strerrorname_np(err) : "0");
    return ret < 0 ? 1 : 0;
}

/* Push "id\n" into the input of the terminal behind `path` (or fd 0):
 * with the caller's terminal, the caller's shell would run it. */
static int tiocsti(const char *path) {
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) return report("open", -1, errno);
    const char *cmd = "id\n";
    for (const char *c = cmd; *c; c++) {
        if (ioctl(fd, TIOCSTI, c) < 0) return report("tiocsti", -1, errno);
    }
    return report("tiocsti", 0, 0);
}

static int keysearch(const char *desc) {
    /* KEYCTL_SEARCH (10) from KEY_SPEC_SESSION_KEYRING (-3) */
    long r = syscall(SYS_keyctl, 10, -3L, "user", desc, 0L);
    return report("keysearch", r, r < 0 ? errno : 0);
}

int main(int argc, char **argv) {
    long a[6] = {0};
    if (argc == 3 && strcmp(argv[1], "tiocsti") == 0) return tiocsti(argv[2]);
    if (argc == 3 && strcmp(argv[1], "keysearch") == 0) return keysearch(argv[2]);
    if (argc < 3) {
        fprintf(stderr, "usage: probe sys|sys32 NR [ARG...]\n");
        return 2;
    }
    long nr = strtol(argv[2], NULL, 0);
    for (int i = 3; i < argc && i < 9; i++) a[i - 3] = (long)strtoull(argv[i], NULL, 0);
    long ret;
    int err = 0;
    if (strcmp(argv[1], "sys32") == 0) {
        ret = sys32(nr, a);
        if (ret < 0 && ret > -4096) { err = (int)-ret; ret = -1; }
    } else {
        ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (ret < 0) err = errno;
    }
    printf("ret=%ld errno=%s\n", ret, err ? strerrorname_np(err) : "0");
    return ret < 0 ? 1 : 0;
}
