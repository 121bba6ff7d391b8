/* Tight loops of 1-byte write + read, for scripts/bench/hook_cost.py.
 *
 *   hook_loop MODE ITERATIONS [FILE]
 *
 * MODE: unix (AF_UNIX socketpair), tcp (a loopback TCP connection carrying
 * bytes of no protocol the agent knows), pipe, file (pwrite + pread of one
 * byte of FILE), getpid (one getppid per iteration: a syscall the agent never
 * looks at: with the default capture on the socket tracepoints it runs no redeye
 * program, so it shows the noise floor).
 * Prints "MODE NS_PER_SYSCALL SYSCALLS". A tenth of the iterations run first,
 * untimed, to warm caches and let the agent's per-fd state settle.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "hook_loop: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The writer's and reader's fds of one mode (the same fd for files). */
struct ends {
  int w, r;
  int file;
};

static struct ends open_ends(const char *mode, const char *path) {
  struct ends e = {-1, -1, 0};
  if (strcmp(mode, "unix") == 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
    e.w = sv[0];
    e.r = sv[1];
  } else if (strcmp(mode, "pipe") == 0) {
    int p[2];
    if (pipe(p)) die("pipe");
    e.w = p[1];
    e.r = p[0];
  } else if (strcmp(mode, "tcp") == 0) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &len))
      die("listen");
    e.w = socket(AF_INET, SOCK_STREAM, 0);
    if (e.w < 0 || connect(e.w, (struct sockaddr *)&a, sizeof a)) die("connect");
    e.r = accept(l, NULL, NULL);
    if (e.r < 0) die("accept");
    setsockopt(e.w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    close(l);
  } else if (strcmp(mode, "file") == 0) {
    e.w = e.r = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (e.w < 0) die(path);
    e.file = 1;
  }
  return e;
}

static void loop(const char *mode, struct ends e, long n) {
  char b = 'z'; /* no protocol starts with one 'z' */
  if (strcmp(mode, "getpid") == 0) {
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    return;
  }
  for (long i = 0; i < n; i++) {
    ssize_t w = e.file ? pwrite(e.w, &b, 1, 0) : write(e.w, &b, 1);
    ssize_t r = e.file ? pread(e.r, &b, 1, 0) : read(e.r, &b, 1);
    if (w != 1 || r != 1) die("write/read");
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: hook_loop unix|tcp|pipe|file|getpid ITERATIONS [FILE]\n");
    return 2;
  }
  const char *mode = argv[1];
  long n = atol(argv[2]);
  if (n <= 0 || (strcmp(mode, "file") == 0 && argc < 4)) {
    fprintf(stderr, "hook_loop: need ITERATIONS > 0 (and FILE for mode file)\n");
    return 2;
  }
  if (strcmp(mode, "unix") && strcmp(mode, "tcp") && strcmp(mode, "pipe") && strcmp(mode, "file") &&
      strcmp(mode, "getpid")) {
    fprintf(stderr, "hook_loop: unknown mode %s\n", mode);
    return 2;
  }
  struct ends e = open_ends(mode, argc > 3 ? argv[3] : NULL);
  loop(mode, e, n / 10 + 1);
  double t0 = now_ns();
  loop(mode, e, n);
  double t1 = now_ns();
  long calls = strcmp(mode, "getpid") == 0 ? n : 2 * n;
  printf("%s %.1f %ld\n", mode, (t1 - t0) / calls, calls);
  return 0;
}
