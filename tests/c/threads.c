/* 8 threads start, exec into, stop and delete containers at once while
 * 2 others malloc and free heavily: every call succeeds, nothing is left. */
#include "common.h"
#include <pthread.h>

#define STARTERS 8
#define ALLOCATORS 2

static vpsos_runtime *rt;
static vpsos_config *cfg;
static volatile int done;
static int rounds = 3;

static void *starter(void *arg) {
  int n = (int)(intptr_t)arg;
  for (int r = 0; r < rounds; r++) {
    char id[64];
    make_id(id, sizeof id, "thr", n * 100 + r);
    vpsos_container *ct;
    CHECK(vpsos_runtime_run(rt, id, cfg, NULL, &ct));
    int p[2];
    ASSERT(pipe2(p, O_CLOEXEC) == 0);
    vpsos_stdio io = {VPSOS_STDIO_NULL, p[1], VPSOS_STDIO_NULL};
    const char *argv[] = {"echo", id, NULL};
    vpsos_process *proc;
    CHECK(vpsos_container_exec(ct, argv, &io, &proc));
    close(p[1]);
    char *out = read_all(p[0], 20000);
    close(p[0]);
    ASSERT(strncmp(out, id, strlen(id)) == 0);
    free(out);
    bool ended;
    vpsos_exit x;
    CHECK(vpsos_process_wait(proc, -1, &ended, &x));
    ASSERT(ended && x.kind == VPSOS_EXIT_EXITED && x.value == 0);
    vpsos_process_free(proc);
    bool killed;
    CHECK(vpsos_container_stop(ct, 200, &x, &killed));
    ASSERT(x.kind == VPSOS_EXIT_SIGNALED);
    CHECK(vpsos_container_delete(ct, false));
    vpsos_container_free(ct);
  }
  return NULL;
}

static void *allocator(void *arg) {
  unsigned seed = (unsigned)(intptr_t)arg;
  void *slots[256] = {0};
  unsigned long n = 0;
  while (!done) {
    unsigned i = (unsigned)rand_r(&seed) % 256;
    free(slots[i]);
    size_t size = (size_t)(rand_r(&seed) % 65536) + 1;
    slots[i] = malloc(size);
    memset(slots[i], (int)i, size);
    n++;
  }
  for (int i = 0; i < 256; i++) free(slots[i]);
  return NULL;
}

int main(void) {
  begin("threads");
  const char *r = getenv("VPSOS_C_ROUNDS");
  if (r) rounds = atoi(r);
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  cfg = config("[\"/bin/sleep\", \"1000\"]", "");
  pthread_t s[STARTERS], a[ALLOCATORS];
  for (int i = 0; i < ALLOCATORS; i++) pthread_create(&a[i], NULL, allocator, (void *)(intptr_t)(i + 1));
  for (int i = 0; i < STARTERS; i++) pthread_create(&s[i], NULL, starter, (void *)(intptr_t)i);
  for (int i = 0; i < STARTERS; i++) pthread_join(s[i], NULL);
  done = 1;
  for (int i = 0; i < ALLOCATORS; i++) pthread_join(a[i], NULL);
  char **ids;
  CHECK(vpsos_runtime_ids(rt, &ids));
  for (char **p = ids; *p; p++) ASSERT(strncmp(*p, "c-thr-", 6) != 0 || atoi(*p + 6) != (int)getpid());
  vpsos_strv_free(ids);
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  pass();
  return 0;
}
