/* The start_latency workload through the C API: create, start, wait and
 * delete a container running /bin/true, N times; prints each run's
 * nanoseconds, one per line. Built and driven by benches/c_abi.rs.
 *   c_abi_start CONFIG.json N ID_PREFIX */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vpsos.h>

static void die(vpsos_error *e) {
  fprintf(stderr, "c_abi_start: %s\n", vpsos_error_message(e));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  FILE *f = fopen(argv[1], "r");
  if (!f) return 2;
  static char json[1 << 20];
  size_t n = fread(json, 1, sizeof json - 1, f);
  fclose(f);
  json[n] = 0;
  int runs = atoi(argv[2]);
  vpsos_runtime *rt;
  vpsos_config *cfg;
  vpsos_error *e;
  if ((e = vpsos_runtime_new("/run/vpsos-bench", &rt))) die(e);
  if ((e = vpsos_config_from_json(json, &cfg))) die(e);
  for (int i = 0; i < runs; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s%d", argv[3], i);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    vpsos_container *ct;
    if ((e = vpsos_runtime_run(rt, id, cfg, NULL, &ct))) die(e);
    bool ended;
    vpsos_exit x;
    if ((e = vpsos_container_wait(ct, -1, &ended, &x))) die(e);
    if ((e = vpsos_container_delete(ct, false))) die(e);
    vpsos_container_free(ct);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (x.kind != VPSOS_EXIT_EXITED || x.value != 0) return 1;
    printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
  }
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  return 0;
}
