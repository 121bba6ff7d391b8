/* Many processes, each holding one keep-alive HTTP connection, for
 * scripts/bench/scale.py.
 *
 *   conn_procs PORT COUNT
 *
 * Forks COUNT children; each connects to 127.0.0.1:PORT, sends one HTTP
 * request, reads the response, tells the parent it is ready and then blocks
 * until the parent's pipe closes. The parent prints "ready N" when all are,
 * and ends them all when its stdin is closed (or it dies: the children then
 * read end-of-file on the pipe).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(int port, int hold_fd, int ready_fd) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) return 1;
  const char req[] = "GET /procs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(s, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) return 1;
  char buf[1024];
  if (read(s, buf, sizeof buf) <= 0) return 1;
  char ok = 1;
  if (write(ready_fd, &ok, 1) != 1) return 1;
  while (read(hold_fd, buf, sizeof buf) > 0) {
  }
  close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: conn_procs PORT COUNT\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]);
  int hold[2], ready[2];
  if (pipe(hold) || pipe(ready)) {
    perror("pipe");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  int started = 0;
  for (int i = 0; i < count; i++) {
    pid_t p = fork();
    if (p < 0) {
      perror("fork");
      break;
    }
    if (p == 0) {
      close(hold[1]);
      close(ready[0]);
      _exit(child(port, hold[0], ready[1]));
    }
    started++;
  }
  close(hold[0]);
  close(ready[1]);
  int n = 0;
  char c;
  while (n < started && read(ready[0], &c, 1) == 1) n++;
  printf("ready %d\n", n);
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  close(hold[1]);
  for (int i = 0; i < started; i++) wait(NULL);
  printf("done\n");
  return n == count ? 0 : 1;
}
