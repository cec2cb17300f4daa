/* The kernel's own cost of a container start with a cgroup: the "floor-cgroup"
 * row of benches/peers.sh. What `unshare -U -r -p -m -n -i -u --fork CMD`
 * does, plus what every runtime does on top of it on this host:
 *
 *   1. make a cgroup in each mounted hierarchy (each v1 hierarchy and the
 *      cgroup2, as listed in /proc/self/mountinfo), v1 cpuset seeded with
 *      its parent's cpus and mems, as it must be before anything can join;
 *   2. clone a child into new user (uid/gid map "0 <euid> 1" as unshare -r
 *      writes it), pid, mount, net, ipc and uts namespaces; the child waits;
 *   3. write the child's pid to each cgroup.procs, close the handshake pipe;
 *   4. the child unshares its cgroup namespace (now rooted at its own
 *      cgroup) and execs CMD;
 *   5. wait for it, rmdir each cgroup, exit with its status.
 *
 * No rootfs, no pivot_root, no mounts: the floor is what no runtime can skip.
 * Usage: floor_cgroup [-k] CMD [ARG...]   (root; -k keeps the cgroups, for
 * the script's leftover check)   Cgroups are named vpsos-floor-<pid>.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXH 32
static char cg[MAXH][512]; /* the cgroups made */
static int ncg;
static int pipefd[2];
static char **cmd;
static pid_t pid;

/* report, and leave no child and no cgroup behind */
static void die(const char *what, const char *arg)
{
	fprintf(stderr, "floor_cgroup: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	while (ncg > 0)
		rmdir(cg[--ncg]);
	exit(125);
}

static void put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("write", path);
	close(fd);
}

static void copy(const char *from, const char *to)
{
	char buf[256];
	int fd = open(from, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0 || (n = read(fd, buf, sizeof buf - 1)) < 0)
		die("read", from);
	close(fd);
	buf[n] = 0;
	put(to, buf);
}

/* mkdir a cgroup in every cgroup/cgroup2 mount */
static void make_cgroups(void)
{
	static char mi[65536];
	char name[64], path[600], parent[600];
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	ssize_t n = 0, r;
	if (fd < 0)
		die("open", "/proc/self/mountinfo");
	while ((r = read(fd, mi + n, sizeof mi - 1 - n)) > 0)
		n += r;
	close(fd);
	mi[n] = 0;
	snprintf(name, sizeof name, "vpsos-floor-%d", getpid());
	for (char *line = strtok(mi, "\n"); line; line = strtok(NULL, "\n")) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype src superopts */
		char mnt[400], fstype[32], super[256];
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %399s", mnt) != 1 ||
		    sscanf(sep + 3, "%31s %*s %255s", fstype, super) != 2)
			continue;
		if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
			continue;
		if (ncg == MAXH)
			break;
		snprintf(cg[ncg], sizeof cg[ncg], "%s/%s", mnt, name);
		if (mkdir(cg[ncg], 0755) < 0)
			die("mkdir", cg[ncg]);
		ncg++;
		/* a new v1 cpuset has no cpus and no mems: nothing may join it */
		if (!strcmp(fstype, "cgroup") && strstr(super, "cpuset")) {
			for (int i = 0; i < 2; i++) {
				const char *f = i ? "cpuset.mems" : "cpuset.cpus";
				snprintf(parent, sizeof parent, "%s/%s", mnt, f);
				snprintf(path, sizeof path, "%s/%s", cg[ncg - 1], f);
				copy(parent, path);
			}
		}
	}
}

static int child(void *arg)
{
	char c;
	(void)arg;
	close(pipefd[1]);
	/* wait until the parent has mapped our ids and moved us */
	if (read(pipefd[0], &c, 1) != 0)
		_exit(126);
	if (unshare(CLONE_NEWCGROUP) < 0)
		_exit(126);
	execv(cmd[0], cmd);
	_exit(127);
}

int main(int argc, char **argv)
{
	static char stack[64 * 1024];
	char path[600], buf[64];
	int keep = 0, status;

	if (argc > 1 && !strcmp(argv[1], "-k"))
		keep = 1, argv++, argc--;
	if (argc < 2) {
		fprintf(stderr, "usage: floor_cgroup [-k] CMD [ARG...]\n");
		return 125;
	}
	cmd = argv + 1;
	make_cgroups();
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		die("pipe", NULL);
	pid = clone(child, stack + sizeof stack,
		    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
			    CLONE_NEWUTS | SIGCHLD,
		    NULL);
	if (pid < 0) {
		pid = 0;
		die("clone", NULL);
	}
	close(pipefd[0]);
	/* as unshare -r: our uid and gid become 0 inside */
	snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
	snprintf(buf, sizeof buf, "0 %d 1", geteuid());
	put(path, buf);
	snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
	put(path, "deny");
	snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
	snprintf(buf, sizeof buf, "0 %d 1", getegid());
	put(path, buf);
	snprintf(buf, sizeof buf, "%d", pid);
	for (int i = 0; i < ncg; i++) {
		if (snprintf(path, sizeof path, "%.512s/cgroup.procs", cg[i]) >= (int)sizeof path)
			die("path too long", cg[i]);
		put(path, buf);
	}
	close(pipefd[1]);
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid", NULL);
	pid = 0;
	for (int i = 0; !keep && i < ncg; i++) {
		/* the reaped child has left the cgroup; retry a busy one briefly */
		int tries = 0;
		while (rmdir(cg[i]) < 0) {
			if (errno != EBUSY || ++tries > 1000)
				die("rmdir", cg[i]);
			usleep(100);
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
