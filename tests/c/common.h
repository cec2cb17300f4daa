/* Helpers of the C tests: checks that report the error, the test config,
 * pipes. Every test prints "test c::<name> ... ok" (or FAILED and exits 1). */
#ifndef VPSOS_C_TEST_COMMON_H
#define VPSOS_C_TEST_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vpsos.h>

#define STATE_ROOT "/run/vpsos-test"

static const char *current_test = "?";

static inline void fail_at(const char *file, int line, const char *what, vpsos_error *e) {
  printf("test c::%s ... FAILED\n", current_test);
  printf("  %s:%d: %s\n", file, line, what);
  if (e) {
    const char *field = vpsos_error_field(e);
    printf("  error: kind %u (%s), errno %d, stage %d, field %s: %s\n", vpsos_error_kind(e),
           vpsos_error_kind_name(vpsos_error_kind(e)), vpsos_error_errno(e), vpsos_error_stage(e),
           field ? field : "(none)", vpsos_error_message(e));
    vpsos_error_free(e);
  }
  fflush(stdout);
  exit(1);
}

/* A call that must succeed. */
#define CHECK(call)                                   \
  do {                                                \
    vpsos_error *e_ = (call);                         \
    if (e_) fail_at(__FILE__, __LINE__, #call, e_);   \
  } while (0)

/* A condition that must hold. */
#define ASSERT(cond)                                                  \
  do {                                                                \
    if (!(cond)) fail_at(__FILE__, __LINE__, "assert " #cond, NULL);  \
  } while (0)

/* A call that must fail with this kind; the error is returned to check more. */
static inline vpsos_error *expect_kind(const char *file, int line, const char *what, vpsos_error *e,
                                uint32_t kind) {
  char msg[512];
  if (!e) {
    snprintf(msg, sizeof msg, "%s succeeded, expected kind %u", what, kind);
    fail_at(file, line, msg, NULL);
  }
  if (vpsos_error_kind(e) != kind) {
    snprintf(msg, sizeof msg, "%s: expected kind %u (%s)", what, kind, vpsos_error_kind_name(kind));
    fail_at(file, line, msg, e);
  }
  return e;
}
#define EXPECT(call, kind) expect_kind(__FILE__, __LINE__, #call, (call), (kind))

/* The field of an error must be this. */
static inline void expect_field(const char *file, int line, vpsos_error *e, const char *field) {
  const char *f = vpsos_error_field(e);
  if (!f || strcmp(f, field) != 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "expected field %s", field);
    fail_at(file, line, msg, e);
  }
}
#define EXPECT_FIELD(e, field) expect_field(__FILE__, __LINE__, (e), (field))

static inline void begin(const char *name) { current_test = name; }
static inline void pass(void) { printf("test c::%s ... ok\n", current_test); fflush(stdout); }

/* The busybox rootfs the runner built (owned by host uid 300000). */
static inline const char *rootfs(void) {
  const char *r = getenv("VPSOS_C_ROOTFS");
  if (!r) { fprintf(stderr, "VPSOS_C_ROOTFS is not set (run tests/c/run.sh)\n"); exit(2); }
  return r;
}

/* A test config whose init runs `args_json` (a JSON array); `extra` is
 * more top-level JSON members (",\"x\": …") or "". Free with free(). */
static inline char *config_json(const char *args_json, const char *extra) {
  const char *fmt =
      "{\"rootfs\": \"%s\", \"hostname\": \"ctest\","
      " \"namespaces\": {\"user\": \"new\", \"mount\": \"new\", \"pid\": \"new\", \"uts\": \"new\","
      " \"ipc\": \"new\", \"network\": \"new\", \"cgroup\": \"new\"},"
      " \"uid_map\": \"0:300000:65536\", \"gid_map\": \"0:300000:65536\","
      " \"cgroup\": {\"path\": \"vpsos-test/{id}\"},"
      " \"process\": {\"args\": %s}%s}";
  size_t n = strlen(fmt) + strlen(rootfs()) + strlen(args_json) + strlen(extra) + 1;
  char *s = malloc(n);
  snprintf(s, n, fmt, rootfs(), args_json, extra);
  return s;
}

static inline vpsos_config *config(const char *args_json, const char *extra) {
  char *json = config_json(args_json, extra);
  vpsos_config *cfg;
  CHECK(vpsos_config_from_json(json, &cfg));
  free(json);
  return cfg;
}

/* The runner's scratch directory (removed after the run). */
static inline const char *scratch(void) {
  const char *d = getenv("VPSOS_C_SCRATCH");
  if (!d) { fprintf(stderr, "VPSOS_C_SCRATCH is not set (run tests/c/run.sh)\n"); exit(2); }
  return d;
}

/* A unique id. */
static inline void make_id(char *buf, size_t len, const char *name, int n) {
  snprintf(buf, len, "c-%s-%d-%d", name, (int)getpid(), n);
}

/* Read fd until EOF or `ms` pass; returns a malloc'd NUL-terminated string. */
static inline char *read_all(int fd, int ms) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0) break;
    if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = 0;
  return buf;
}

/* Read fd until `want` shows up (or `ms` pass); whether it did. */
static inline int read_until(int fd, const char *want, int ms) {
  char buf[8192];
  size_t len = 0;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0) return 0;
    if (len >= sizeof buf - 1) { memmove(buf, buf + len / 2, len - len / 2); len -= len / 2; }
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) return 0;
    len += (size_t)n;
    buf[len] = 0;
    if (strstr(buf, want)) return 1;
  }
}

/* Whether a path exists. */
static inline int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

#endif
