/* Directory storage, id ranges and export/import through the C API;
 * ZFS datasets, properties, snapshots, clones and streams where the host
 * has ZFS (the test VM). */
#include "common.h"

static void dir_storage(void) {
  begin("dir_storage");
  char root[200], src[256], stream[256];
  snprintf(root, sizeof root, "%.150s/dirstore-%d", scratch(), (int)getpid());
  snprintf(stream, sizeof stream, "%s.export", root);
  vpsos_dir_storage *st;
  CHECK(vpsos_dir_storage_new(root, &st));
  snprintf(src, sizeof src, "%s", rootfs());
  char *path;
  CHECK(vpsos_dir_storage_create_from_dir(st, "one", src, &path));
  ASSERT(strstr(path, "/one"));
  char bb[512];
  snprintf(bb, sizeof bb, "%s/bin/busybox", path);
  ASSERT(exists(bb));
  uint64_t bytes;
  CHECK(vpsos_dir_storage_size(st, "one", &bytes));
  ASSERT(bytes > 100000);
  /* export it with a config, import as another */
  char *json = config_json("[\"/bin/true\"]", "");
  vpsos_config *cfg;
  CHECK(vpsos_config_from_json(json, &cfg));
  free(json);
  int fd = open(stream, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT(fd >= 0);
  CHECK(vpsos_export_dir(cfg, path, fd));
  ASSERT(lseek(fd, 0, SEEK_SET) == 0);
  vpsos_config *imported;
  CHECK(vpsos_dir_storage_import(st, "two", fd, &imported));
  close(fd);
  unlink(stream);
  char *ij;
  CHECK(vpsos_config_to_json(imported, &ij));
  ASSERT(strstr(ij, "/two\""));
  vpsos_string_free(ij);
  char **names;
  CHECK(vpsos_dir_storage_list(st, &names));
  int n = 0;
  for (char **p = names; *p; p++) n++;
  ASSERT(n == 2);
  vpsos_strv_free(names);
  /* the imported tree runs */
  vpsos_runtime *rt;
  CHECK(vpsos_runtime_new(STATE_ROOT, &rt));
  char id[64];
  make_id(id, sizeof id, "imported", 0);
  vpsos_container *ct;
  CHECK(vpsos_runtime_run(rt, id, imported, NULL, &ct));
  bool ended;
  vpsos_exit x;
  CHECK(vpsos_container_wait(ct, 20000, &ended, &x));
  ASSERT(ended && x.kind == VPSOS_EXIT_EXITED && x.value == 0);
  CHECK(vpsos_container_delete(ct, false));
  vpsos_container_free(ct);
  vpsos_runtime_free(rt);
  vpsos_error *e = EXPECT(vpsos_dir_storage_create_from_dir(st, "one", src, NULL), VPSOS_ERROR_ALREADY_EXISTS);
  vpsos_error_free(e);
  CHECK(vpsos_dir_storage_delete(st, "one"));
  CHECK(vpsos_dir_storage_delete(st, "two"));
  vpsos_string_free(path);
  vpsos_config_free(imported);
  vpsos_config_free(cfg);
  vpsos_dir_storage_free(st);
  rmdir(root);
  pass();
}

static void id_ranges(void) {
  begin("id_ranges");
  char path[256];
  snprintf(path, sizeof path, "%.200s/ids-%d.json", scratch(), (int)getpid());
  vpsos_idrange *r;
  CHECK(vpsos_idrange_open(path, 1000000, 65536, 16, &r));
  vpsos_idrange_allocation a, b;
  CHECK(vpsos_idrange_allocate(r, 1, "ct1", &a));
  ASSERT(a.index == 0 && a.first_id == 1000000 && a.id_count == 65536);
  CHECK(vpsos_idrange_allocate(r, 2, "ct2", &b));
  ASSERT(b.index == 1 && b.count == 2 && b.first_id == 1065536);
  vpsos_error *e = EXPECT(vpsos_idrange_allocate_at(r, 1, 1, "ct3", &a), VPSOS_ERROR_ALREADY_EXISTS);
  vpsos_error_free(e);
  vpsos_idrange *other;
  e = EXPECT(vpsos_idrange_open(path, 1000000, 65536, 32, &other), VPSOS_ERROR_INVALID_CONFIG);
  vpsos_error_free(e);
  char *json;
  CHECK(vpsos_idrange_list(r, &json));
  ASSERT(strstr(json, "\"owner\":\"ct2\"") && strstr(json, "\"first_id\":1065536"));
  vpsos_string_free(json);
  size_t n;
  CHECK(vpsos_idrange_deallocate_owner(r, "ct2", &n));
  ASSERT(n == 1);
  CHECK(vpsos_idrange_deallocate(r, 0, &a));
  ASSERT(a.count == 1);
  e = EXPECT(vpsos_idrange_deallocate(r, 0, NULL), VPSOS_ERROR_NOT_FOUND);
  vpsos_error_free(e);
  vpsos_idrange_free(r);
  unlink(path);
  pass();
}

static int run(const char *cmd) { return system(cmd); }

static void zfs(void) {
  begin("zfs");
  if (!vpsos_has_feature("zfs")) {
    vpsos_zfs *z;
    vpsos_error *e = EXPECT(vpsos_zfs_new(&z), VPSOS_ERROR_UNSUPPORTED);
    vpsos_error_free(e);
    printf("SKIPPED c::zfs: this host has no ZFS (the test VM has)\n");
    return;
  }
  char pool[64], cmd[512], file[128];
  snprintf(pool, sizeof pool, "vptc%d", (int)getpid());
  snprintf(file, sizeof file, "/var/tmp/%s.img", pool);
  snprintf(cmd, sizeof cmd,
           "truncate -s 256M %s && zpool create -f -O mountpoint=/var/tmp/vpsos-tests/zfs-%s %s %s",
           file, pool, pool, file);
  ASSERT(run(cmd) == 0);
  vpsos_zfs *z;
  CHECK(vpsos_zfs_new(&z));
  char ds[128], snap[160], clone[128], recv[128];
  snprintf(ds, sizeof ds, "%s/ct/101", pool);
  snprintf(snap, sizeof snap, "%s@s1", ds);
  snprintf(clone, sizeof clone, "%s/ct/102", pool);
  snprintf(recv, sizeof recv, "%s/ct/201", pool);
  const char *props[] = {"quota=64M", "org.vpsadminos.osctl:id=101", NULL};
  CHECK(vpsos_zfs_create(z, ds, props));
  const char *set[] = {"refquota=32M", "compression=lz4", NULL};
  CHECK(vpsos_zfs_set(z, ds, set));
  const char *names[] = {ds, NULL}, *want[] = {"quota", "refquota", "org.vpsadminos.osctl:id", NULL};
  char *json;
  CHECK(vpsos_zfs_get(z, names, want, &json));
  ASSERT(strstr(json, "\"value\":\"67108864\"") && strstr(json, "\"value\":\"33554432\""));
  ASSERT(strstr(json, "\"value\":\"101\""));
  vpsos_string_free(json);
  CHECK(vpsos_zfs_snapshot(z, snap, false));
  CHECK(vpsos_zfs_clone(z, snap, clone, NULL));
  char **list;
  char parent[128];
  snprintf(parent, sizeof parent, "%s/ct", pool);
  CHECK(vpsos_zfs_list(z, parent, "filesystem", 1, &list));
  int n = 0;
  for (char **p = list; *p; p++) n++;
  ASSERT(n == 3);
  vpsos_strv_free(list);
  /* a stream through a file, received as another dataset */
  char stream[160];
  snprintf(stream, sizeof stream, "/var/tmp/%s.stream", pool);
  int fd = open(stream, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  uint64_t sent, got;
  CHECK(vpsos_zfs_send(z, snap, NULL, VPSOS_SEND_PROPERTIES, fd, &sent));
  ASSERT(sent > 0);
  ASSERT(lseek(fd, 0, SEEK_SET) == 0);
  CHECK(vpsos_zfs_receive(z, recv, VPSOS_RECV_NO_MOUNT, fd, &got));
  ASSERT(got == sent);
  close(fd);
  unlink(stream);
  const char *rn[] = {recv, NULL}, *rp[] = {"org.vpsadminos.osctl:id", NULL};
  CHECK(vpsos_zfs_get(z, rn, rp, &json));
  ASSERT(strstr(json, "\"value\":\"101\""));
  vpsos_string_free(json);
  vpsos_error *e = EXPECT(vpsos_zfs_create(z, "pool/not@a-dataset", NULL), VPSOS_ERROR_INVALID_CONFIG);
  vpsos_error_free(e);
  CHECK(vpsos_zfs_rollback(z, snap));
  CHECK(vpsos_zfs_destroy(z, clone, false));
  CHECK(vpsos_zfs_destroy(z, parent, true));
  vpsos_zfs_free(z);
  snprintf(cmd, sizeof cmd, "zpool destroy %s; rm -f %s", pool, file);
  ASSERT(run(cmd) == 0);
  pass();
}

int main(void) {
  dir_storage();
  id_ranges();
  zfs();
  return 0;
}
