/* hello: run one command in a system container through libvpsos.
 *
 *   cc -o hello examples/c/hello.c $(pkg-config --cflags --libs vpsos)
 *   ./hello --version                 # the library and this host's features
 *   ./hello ROOTFS [COMMAND...]       # as root: run COMMAND (default: uname -a)
 *
 * ROOTFS is a root filesystem owned by root (a debootstrap tree, or a
 * directory with a static busybox); it is mounted idmapped into the
 * container's user namespace (host ids 300000-365535), so nothing is
 * chowned. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vpsos.h>

static int report(vpsos_error *e) {
  const char *field = vpsos_error_field(e);
  fprintf(stderr, "hello: %s%s%s (kind %s)\n", field ? field : "", field ? ": " : "",
          vpsos_error_message(e), vpsos_error_kind_name(vpsos_error_kind(e)));
  vpsos_error_free(e);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s --version | ROOTFS [COMMAND...]\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("libvpsos %s (header %d.%d.%d)\n", vpsos_version(), VPSOS_VERSION_MAJOR,
           VPSOS_VERSION_MINOR, VPSOS_VERSION_PATCH);
    for (const char *const *f = vpsos_features(); *f; f++)
      printf("  %-20s %s\n", *f, vpsos_has_feature(*f) ? "yes" : "no");
    return 0;
  }

  /* the config: JSON, the same form Rust, Ruby and Python use */
  char args[1024] = "[\"uname\", \"-a\"]";
  if (argc > 2) {
    size_t n = 0;
    n += (size_t)snprintf(args, sizeof args, "[");
    for (int i = 2; i < argc && n < sizeof args; i++)
      n += (size_t)snprintf(args + n, sizeof args - n, "%s\"%s\"", i > 2 ? ", " : "", argv[i]);
    if (n < sizeof args) snprintf(args + n, sizeof args - n, "]");
  }
  char json[2048];
  snprintf(json, sizeof json,
           "{\"rootfs\": \"%s\", \"idmapped_rootfs\": true, \"hostname\": \"hello\","
           " \"namespaces\": {\"user\": \"new\", \"mount\": \"new\", \"pid\": \"new\","
           " \"uts\": \"new\", \"ipc\": \"new\", \"network\": \"new\", \"cgroup\": \"new\"},"
           " \"uid_map\": \"0:300000:65536\", \"gid_map\": \"0:300000:65536\","
           " \"console\": {\"enabled\": false, \"ttys\": 0},"
           " \"process\": {\"args\": %s}}",
           argv[1], args);

  vpsos_runtime *rt = NULL;
  vpsos_config *cfg = NULL;
  vpsos_container *ct = NULL;
  vpsos_error *e;
  int status = 1;
  if ((e = vpsos_runtime_new(NULL, &rt))) return report(e);
  if ((e = vpsos_config_from_json(json, &cfg))) { status = report(e); goto out; }

  /* run it with our stdout and stderr, wait for it, delete it */
  char id[32];
  snprintf(id, sizeof id, "hello-%d", (int)getpid());
  vpsos_stdio io = {VPSOS_STDIO_NULL, VPSOS_STDIO_INHERIT, VPSOS_STDIO_INHERIT};
  if ((e = vpsos_runtime_run(rt, id, cfg, &io, &ct))) { status = report(e); goto out; }
  bool ended;
  vpsos_exit x;
  if ((e = vpsos_container_wait(ct, -1, &ended, &x))) status = report(e);
  else status = x.kind == VPSOS_EXIT_EXITED ? x.value : 128 + x.value;
  if ((e = vpsos_container_delete(ct, true))) report(e);
out:
  vpsos_container_free(ct);
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  return status;
}
