/* A whole life through the C API: config from and to JSON, create,
 * console attach, start, exec with captured output, stats, live limits,
 * freeze/thaw, list, a second handle, stop, console log, delete. */
#include "common.h"

/* Under valgrind (3.19 knows neither clone3 nor openat2) vpsos cannot
 * start containers: tests/c/run.sh creates one with `lifecycle --create
 * ID` outside valgrind, and `lifecycle --attach ID` under valgrind runs
 * everything else on it but exec and pidfds. */
static void operate(vpsos_runtime *rt, const char *id, int con, int can_exec);

static void lifecycle(const char *create_only) {
  begin("lifecycle");
  vpsos_runtime *rt;
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  ASSERT(strcmp(vpsos_runtime_root(rt), STATE_ROOT) == 0);
  char id[64];
  if (create_only) snprintf(id, sizeof id, "%s", create_only);
  else make_id(id, sizeof id, "life", 0);

  vpsos_config *cfg = config(
      "[\"/bin/sh\", \"-c\", \"while :; do echo booted >/dev/console; sleep 0.2; done\"]", "");
  char *json, *again;
  CHECK(vpsos_config_to_json(cfg, &json));
  vpsos_config *copy;
  CHECK(vpsos_config_from_json(json, &copy));
  CHECK(vpsos_config_to_json(copy, &again));
  ASSERT(strcmp(json, again) == 0);
  vpsos_string_free(json);
  vpsos_string_free(again);
  vpsos_config_free(copy);

  vpsos_container *ct;
  CHECK(vpsos_runtime_create(rt, id, cfg, NULL, &ct));
  ASSERT(strcmp(vpsos_container_id(ct), id) == 0);
  vpsos_status st;
  int32_t pid;
  CHECK(vpsos_container_status(ct, &st, &pid));
  ASSERT(st == VPSOS_STATUS_CREATED);
  ASSERT(pid > 0);

  int con;
  CHECK(vpsos_container_attach_console(ct, &con));
  CHECK(vpsos_container_start(ct));
  CHECK(vpsos_container_status(ct, &st, NULL));
  ASSERT(st == VPSOS_STATUS_RUNNING);
  vpsos_container_free(ct);
  vpsos_config_free(cfg);
  if (create_only) {
    close(con);
    vpsos_runtime_free(rt);
    return;
  }
  operate(rt, id, con, 1);
  vpsos_runtime_free(rt);
  pass();
}

static void operate(vpsos_runtime *rt, const char *id, int con, int can_exec) {
  vpsos_container *ct;
  CHECK(vpsos_runtime_load(rt, id, &ct));
  vpsos_status st;
  int32_t pid;
  CHECK(vpsos_container_status(ct, &st, &pid));
  ASSERT(st == VPSOS_STATUS_RUNNING);
  if (con < 0) CHECK(vpsos_container_attach_console(ct, &con));
  ASSERT(read_until(con, "booted", 10000));
  close(con);
  bool ended;
  vpsos_exit x;

  if (can_exec) {
  /* exec: output captured through a pipe, the exit code back */
  int p[2];
  ASSERT(pipe2(p, O_CLOEXEC) == 0);
  vpsos_stdio io = {VPSOS_STDIO_NULL, p[1], p[1]};
  const char *argv[] = {"sh", "-c", "echo hello-from-exec; hostname; exit 3", NULL};
  vpsos_process *proc;
  CHECK(vpsos_container_exec(ct, argv, &io, &proc));
  close(p[1]);
  ASSERT(vpsos_process_pid(proc) > 0);
  char *out = read_all(p[0], 10000);
  close(p[0]);
  CHECK(vpsos_process_wait(proc, -1, &ended, &x));
  ASSERT(ended);
  ASSERT(x.kind == VPSOS_EXIT_EXITED && x.value == 3);
  ASSERT(strcmp(out, "hello-from-exec\nctest\n") == 0);
  free(out);
  vpsos_process_free(proc);

  /* exec from JSON: environment, working directory, user */
  ASSERT(pipe2(p, O_CLOEXEC) == 0);
  vpsos_stdio io2 = {VPSOS_STDIO_NULL, p[1], VPSOS_STDIO_INHERIT};
  CHECK(vpsos_container_exec_json(
      ct,
      "{\"args\": [\"sh\", \"-c\", \"echo $FOO $(pwd) $(id -u)\"], \"env\": [\"FOO=bar\", "
      "\"PATH=/bin:/usr/bin\"], \"cwd\": \"/tmp\", \"user\": {\"uid\": 1000, \"gid\": 1000}}",
      &io2, &proc));
  close(p[1]);
  out = read_all(p[0], 10000);
  close(p[0]);
  CHECK(vpsos_process_wait(proc, 10000, &ended, &x));
  ASSERT(ended && x.kind == VPSOS_EXIT_EXITED && x.value == 0);
  ASSERT(strcmp(out, "bar /tmp 1000\n") == 0);
  free(out);
  vpsos_process_free(proc);
  }

  /* stats and live limits */
  vpsos_stats s;
  CHECK(vpsos_container_stats(ct, &s));
  ASSERT(s.pids_current >= 1);
  ASSERT(s.memory_current > 0);
  CHECK(vpsos_container_update_resources(ct, "{\"memory\": {\"max\": 268435456}, \"pids\": {\"max\": 77}}"));
  char *res;
  CHECK(vpsos_container_resources(ct, &res));
  ASSERT(strstr(res, "268435456") && strstr(res, "77"));
  vpsos_string_free(res);

  /* freeze and thaw */
  bool frozen;
  CHECK(vpsos_container_freeze(ct));
  CHECK(vpsos_container_is_frozen(ct, &frozen));
  ASSERT(frozen);
  CHECK(vpsos_container_status(ct, &st, NULL));
  ASSERT(st == VPSOS_STATUS_FROZEN);
  CHECK(vpsos_container_thaw(ct));
  CHECK(vpsos_container_is_frozen(ct, &frozen));
  ASSERT(!frozen);

  /* listed, and a second handle sees the same */
  vpsos_container_info *list;
  size_t n, found = 0;
  CHECK(vpsos_runtime_list(rt, &list, &n));
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i].id, id) == 0) {
      found++;
      ASSERT(list[i].status == VPSOS_STATUS_RUNNING && list[i].pid == pid && list[i].created > 0);
    }
  ASSERT(found == 1);
  vpsos_container_info_free(list, n);
  vpsos_container *other;
  CHECK(vpsos_runtime_load(rt, id, &other));
  int32_t pid2;
  CHECK(vpsos_container_status(other, &st, &pid2));
  ASSERT(st == VPSOS_STATUS_RUNNING && pid2 == pid);
  char *state;
  CHECK(vpsos_container_state_json(other, &state));
  ASSERT(strstr(state, "\"running\""));
  vpsos_string_free(state);

  /* a pidfd; a wait that times out (valgrind 3.19 lacks pidfd_open) */
  if (can_exec) {
  int pfd;
  CHECK(vpsos_container_pidfd(ct, &pfd));
  ASSERT(pfd >= 0);
  close(pfd);
  CHECK(vpsos_container_wait(ct, 100, &ended, &x));
  ASSERT(!ended);
  }

  /* stop: a shell as init ignores the halt signal, so it is killed */
  bool killed;
  CHECK(vpsos_container_stop(other, 300, &x, &killed));
  ASSERT(killed);
  ASSERT(x.kind == VPSOS_EXIT_SIGNALED && x.value == SIGKILL && x.end == VPSOS_END_KILLED);
  CHECK(vpsos_container_wait(ct, 0, &ended, &x));
  ASSERT(ended && x.value == SIGKILL);
  CHECK(vpsos_container_status(ct, &st, NULL));
  ASSERT(st == VPSOS_STATUS_STOPPED);

  uint8_t *log;
  size_t len;
  CHECK(vpsos_container_console_log(ct, &log, &len));
  ASSERT(len > 0 && memmem(log, len, "booted", 6));
  vpsos_bytes_free(log, len);

  CHECK(vpsos_container_delete(ct, false));
  vpsos_error *e = EXPECT(vpsos_container_status(other, &st, NULL), VPSOS_ERROR_NOT_FOUND);
  vpsos_error_free(e);
  char dir[256];
  snprintf(dir, sizeof dir, "%s/%s", STATE_ROOT, id);
  ASSERT(!exists(dir));

  vpsos_container_free(other);
  vpsos_container_free(ct);
}

/* An init that halts as asked: stop ends it without a kill; run() starts
 * it in one call; stdout reaches the caller's pipe. */
static void halt_and_run(void) {
  begin("run_and_halt");
  vpsos_runtime *rt;
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  char id[64];
  make_id(id, sizeof id, "halt", 0);
  vpsos_config *cfg = config(
      "[\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done\"]",
      ", \"halt\": {\"signal\": 15}");
  int p[2];
  ASSERT(pipe2(p, O_CLOEXEC) == 0);
  vpsos_stdio io = {VPSOS_STDIO_NULL, p[1], 2};
  vpsos_container *ct;
  CHECK(vpsos_runtime_run(rt, id, cfg, &io, &ct));
  close(p[1]);
  ASSERT(read_until(p[0], "up", 10000));
  vpsos_exit x;
  bool killed = true;
  CHECK(vpsos_container_stop(ct, 10000, &x, &killed));
  ASSERT(!killed);
  ASSERT(x.kind == VPSOS_EXIT_EXITED && x.value == 0 && x.end == VPSOS_END_EXIT);
  close(p[0]);
  CHECK(vpsos_container_delete(ct, false));
  vpsos_container_free(ct);
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  pass();
}

/* A terminal: exec with "terminal": true gives the pty master. */
static void exec_terminal(void) {
  begin("exec_terminal");
  vpsos_runtime *rt;
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  char id[64];
  make_id(id, sizeof id, "tty", 0);
  vpsos_config *cfg = config("[\"/bin/sleep\", \"1000\"]", "");
  vpsos_container *ct;
  CHECK(vpsos_runtime_run(rt, id, cfg, NULL, &ct));
  vpsos_process *proc;
  CHECK(vpsos_container_exec_json(ct, "{\"args\": [\"sh\", \"-c\", \"tty; echo done\"], \"terminal\": true}",
                                  NULL, &proc));
  int master = vpsos_process_console(proc);
  ASSERT(master >= 0);
  ASSERT(vpsos_process_console(proc) == -1); /* handed over once */
  ASSERT(read_until(master, "/dev/pts/", 10000));
  bool ended;
  vpsos_exit x;
  CHECK(vpsos_process_wait(proc, 10000, &ended, &x));
  ASSERT(ended && x.kind == VPSOS_EXIT_EXITED && x.value == 0);
  close(master);
  vpsos_process_free(proc);
  CHECK(vpsos_container_delete(ct, true));
  vpsos_container_free(ct);
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  pass();
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--create") == 0) {
    lifecycle(argv[2]);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "--attach") == 0) {
    begin("lifecycle_attached");
    vpsos_runtime *rt;
    CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
    operate(rt, argv[2], -1, 0);
    vpsos_runtime_free(rt);
    pass();
    return 0;
  }
  lifecycle(NULL);
  halt_and_run();
  exec_terminal();
  return 0;
}
