/* Every error path of the C API says what it is: kind, errno, stage,
 * field; bad arguments never crash; a failed create leaves nothing. */
#include "common.h"

static void no_state(const char *id) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s/%s", STATE_ROOT, id);
  ASSERT(!exists(dir));
  snprintf(dir, sizeof dir, "/sys/fs/cgroup/pids/vpsos-test/%s", id);
  ASSERT(!exists(dir));
  snprintf(dir, sizeof dir, "/sys/fs/cgroup/vpsos-test/%s", id);
  ASSERT(!exists(dir));
}

static void config_errors(void) {
  begin("config_errors");
  vpsos_config *cfg;
  vpsos_error *e = EXPECT(vpsos_config_from_json(NULL, &cfg), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "json");
  vpsos_error_free(e);
  e = EXPECT(vpsos_config_from_json("{\"rootfs\": \"/x\"", &cfg), VPSOS_ERROR_INVALID_CONFIG);
  vpsos_error_free(e);
  e = EXPECT(vpsos_config_from_json("{}", NULL), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "config");
  vpsos_error_free(e);
  /* an unknown field is refused and named */
  char *json = config_json("[\"/bin/true\"]", ", \"no_such_field\": 1");
  e = EXPECT(vpsos_config_from_json(json, &cfg), VPSOS_ERROR_INVALID_CONFIG);
  ASSERT(strstr(vpsos_error_message(e), "no_such_field"));
  vpsos_error_free(e);
  free(json);
  /* no program */
  json = config_json("[]", "");
  e = EXPECT(vpsos_config_from_json(json, &cfg), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "process.args");
  vpsos_error_free(e);
  free(json);
  /* a map that covers host root is refused unless the config says privileged */
  json = config_json("[\"/bin/true\"]", "");
  char *p = strstr(json, "0:300000:65536");
  memcpy(p, "0:0:65536     ", 14);
  e = EXPECT(vpsos_config_from_json(json, &cfg), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "uid_map");
  ASSERT(vpsos_error_errno(e) == 0 && vpsos_error_stage(e) == -1);
  vpsos_error_free(e);
  free(json);
  /* not UTF-8 */
  e = EXPECT(vpsos_config_from_json("{\"rootfs\": \"\xff\"}", &cfg), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "json");
  vpsos_error_free(e);
  pass();
}

static void runtime_errors(void) {
  begin("runtime_errors");
  vpsos_runtime *rt;
  vpsos_error *e = EXPECT(vpsos_runtime_new("relative/dir", &rt), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "root");
  vpsos_error_free(e);
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  vpsos_container *ct;
  e = EXPECT(vpsos_runtime_load(rt, "c-no-such-container", &ct), VPSOS_ERROR_NOT_FOUND);
  vpsos_error_free(e);
  e = EXPECT(vpsos_runtime_load(rt, NULL, &ct), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "id");
  vpsos_error_free(e);
  e = EXPECT(vpsos_runtime_load(NULL, "x", &ct), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "runtime");
  vpsos_error_free(e);

  vpsos_config *cfg = config("[\"/bin/sleep\", \"1000\"]", "");
  e = EXPECT(vpsos_runtime_create(rt, "../escape", cfg, NULL, &ct), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "id");
  vpsos_error_free(e);
  vpsos_stdio bad = {-5, VPSOS_STDIO_NULL, VPSOS_STDIO_NULL};
  char id[64];
  make_id(id, sizeof id, "err", 0);
  e = EXPECT(vpsos_runtime_create(rt, id, cfg, &bad, &ct), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "stdio.stdin_fd");
  vpsos_error_free(e);
  vpsos_stdio closed = {VPSOS_STDIO_NULL, 1000, VPSOS_STDIO_NULL};
  e = EXPECT(vpsos_runtime_create(rt, id, cfg, &closed, &ct), VPSOS_ERROR_IO);
  ASSERT(vpsos_error_errno(e) == EBADF);
  vpsos_error_free(e);
  no_state(id);

  /* twice the same id; start twice */
  CHECK(vpsos_runtime_run(rt, id, cfg, NULL, &ct));
  vpsos_container *dup;
  e = EXPECT(vpsos_runtime_create(rt, id, cfg, NULL, &dup), VPSOS_ERROR_ALREADY_EXISTS);
  vpsos_error_free(e);
  e = EXPECT(vpsos_container_start(ct), VPSOS_ERROR_BUSY);
  vpsos_error_free(e);
  e = EXPECT(vpsos_container_delete(ct, false), VPSOS_ERROR_BUSY);
  vpsos_error_free(e);
  /* bad arguments to a running container */
  int fd;
  e = EXPECT(vpsos_container_attach_tty(ct, 0, &fd), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "tty");
  vpsos_error_free(e);
  const char *empty[] = {NULL};
  vpsos_process *proc;
  e = EXPECT(vpsos_container_exec(ct, empty, NULL, &proc), VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "argv");
  vpsos_error_free(e);
  e = EXPECT(vpsos_container_exec_json(ct, "{\"args\": [\"x\"], \"bogus\": 1}", NULL, &proc),
             VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "process_json");
  vpsos_error_free(e);
  e = EXPECT(vpsos_container_update_resources(ct, "{\"memory\": {\"max\": \"lots\"}}"),
             VPSOS_ERROR_INVALID_CONFIG);
  EXPECT_FIELD(e, "resources_json");
  vpsos_error_free(e);
  e = EXPECT(vpsos_container_remove_interface(ct, "eth9"), VPSOS_ERROR_NOT_FOUND);
  vpsos_error_free(e);
  /* a program that is not there: the exec fails in the child, named */
  const char *missing[] = {"/no/such/program", NULL};
  e = EXPECT(vpsos_container_exec(ct, missing, NULL, &proc), VPSOS_ERROR_CHILD);
  ASSERT(vpsos_error_stage(e) == VPSOS_STAGE_EXEC && vpsos_error_errno(e) == ENOENT);
  vpsos_error_free(e);
  CHECK(vpsos_container_delete(ct, true));
  vpsos_container_free(ct);
  no_state(id);
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  pass();
}

/* Failures inside the container's setup name their stage, and leave
 * nothing behind. */
static void child_errors(void) {
  begin("child_errors");
  vpsos_runtime *rt;
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  char id[64];
  make_id(id, sizeof id, "child", 0);
  vpsos_config *cfg = config("[\"/no/such/init\"]", "");
  vpsos_container *ct;
  vpsos_error *e = EXPECT(vpsos_runtime_run(rt, id, cfg, NULL, &ct), VPSOS_ERROR_CHILD);
  ASSERT(vpsos_error_stage(e) == VPSOS_STAGE_EXEC);
  ASSERT(vpsos_error_errno(e) == ENOENT);
  ASSERT(strcmp(vpsos_stage_name(vpsos_error_stage(e)), "exec") == 0);
  vpsos_error_free(e);
  no_state(id);
  vpsos_config_free(cfg);

  cfg = config("[\"/bin/true\"]",
               ", \"mounts\": [{\"type\": \"bind\", \"source\": \"/no/such/source\", \"destination\": \"/mnt\"}]");
  e = vpsos_runtime_run(rt, id, cfg, NULL, &ct);
  ASSERT(e != NULL);
  ASSERT(vpsos_error_kind(e) == VPSOS_ERROR_CHILD);
  ASSERT(vpsos_error_stage(e) == VPSOS_STAGE_MOUNT);
  ASSERT(vpsos_error_errno(e) == ENOENT);
  ASSERT(strstr(vpsos_error_message(e), "/no/such/source"));
  vpsos_error_free(e);
  no_state(id);
  vpsos_config_free(cfg);
  vpsos_runtime_free(rt);
  pass();
}

static void names_and_features(void) {
  begin("names_and_features");
  char v[32];
  snprintf(v, sizeof v, "%d.%d.%d", VPSOS_VERSION_MAJOR, VPSOS_VERSION_MINOR, VPSOS_VERSION_PATCH);
  ASSERT(strcmp(vpsos_version(), v) == 0);
  ASSERT(vpsos_has_feature("seccomp"));
  /* valgrind 3.19 fails clone3 and openat2 with ENOSYS */
  ASSERT(vpsos_has_feature("spawn") == !getenv("VPSOS_C_VALGRIND"));
  ASSERT(vpsos_has_feature("user-ns"));
  ASSERT(!vpsos_has_feature("warp-drive"));
  ASSERT(!vpsos_has_feature(NULL));
  ASSERT(vpsos_has_feature("cgroup1") != vpsos_has_feature("cgroup2"));
  ASSERT(vpsos_has_api_extension("runtime-recover"));
  ASSERT(!vpsos_has_api_extension("teleport"));
  ASSERT(strcmp(vpsos_error_kind_name(VPSOS_ERROR_BUSY), "busy") == 0);
  ASSERT(strcmp(vpsos_error_kind_name(4242), "unknown") == 0);
  ASSERT(strcmp(vpsos_stage_name(VPSOS_STAGE_MOUNT), "mount") == 0);
  ASSERT(strcmp(vpsos_stage_name(999), "unknown") == 0);
  /* accessors and frees take NULL */
  ASSERT(vpsos_error_kind(NULL) == 0 && vpsos_error_stage(NULL) == -1);
  ASSERT(vpsos_error_field(NULL) == NULL && vpsos_error_message(NULL)[0] == 0);
  vpsos_error_free(NULL);
  vpsos_string_free(NULL);
  vpsos_strv_free(NULL);
  vpsos_bytes_free(NULL, 0);
  vpsos_runtime_free(NULL);
  vpsos_container_free(NULL);
  vpsos_config_free(NULL);
  vpsos_process_free(NULL);
  pass();
}

int main(void) {
  names_and_features();
  config_errors();
  if (getenv("VPSOS_C_VALGRIND")) return 0; /* the rest starts containers */
  runtime_errors();
  child_errors();
  return 0;
}
