// Known workloads for the kernel tests: each mode does exactly what its
// name says, a known number of times, and prints what it did, so the tests
// can compare the agent's counts with ground truth.
//
//   refuse PORT N            N connects to 127.0.0.1:PORT (nothing listens)
//   serve PORT N [HOLD_MS]   accept N connections, read each until EOF/RST
//   connect HOST PORT N      N connects, each closed normally
//   linger-close HOST PORT   one connect, then close with SO_LINGER 0 (RST)
//   hold HOST PORT MS        one connect, held open for MS ms, then closed
//   sink PORT                accept one connection, read until EOF
//   source HOST PORT BYTES   one connection, write BYTES in 1 KiB writes
//   cpuhog THREADS MS        THREADS busy threads for MS milliseconds
//   idle MS                  sleep MS milliseconds
//   fds N MS                 hold N extra open fds (/dev/null) for MS ms
//   alloc MB                 allocate and touch MB MiB, 1 MiB at a time
//
// Arguments after the required ones are ignored: tests append tag=NAME so
// that a --service cmdline rule can tell their processes apart.
//
// Every mode gives up after a bounded time so a broken test cannot hang.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "workload: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_in address(const char* host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    std::fprintf(stderr, "workload: bad address %s\n", host);
    std::exit(2);
  }
  return a;
}

int connect_to(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in a = address(host, port);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = address("0.0.0.0", port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
  if (listen(fd, 1024) != 0) die("listen");
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void drain(int fd) {
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[65536];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

int refuse(int port, int n) {
  int refused = 0;
  for (int i = 0; i < n; ++i) {
    int fd = connect_to("127.0.0.1", port);
    if (fd >= 0) {
      close(fd);
      std::fprintf(stderr, "workload: port %d accepted a connection\n", port);
      return 1;
    }
    if (errno == ECONNREFUSED) ++refused;
  }
  std::printf("refused %d\n", refused);
  return refused == n ? 0 : 1;
}

int serve(int port, int n) {
  int lfd = listen_on(port);
  std::printf("listening %d\n", port);
  std::fflush(stdout);
  std::vector<std::thread> readers;
  int accepted = 0;
  for (; accepted < n; ++accepted) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) die("accept");
    readers.emplace_back([fd] {
      drain(fd);
      close(fd);
    });
  }
  for (auto& t : readers) t.join();
  close(lfd);
  std::printf("accepted %d\n", accepted);
  return 0;
}

int connect_n(const char* host, int port, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    int fd = connect_to(host, port);
    if (fd < 0) die("connect");
    close(fd);
    ++ok;
  }
  std::printf("connected %d\n", ok);
  return 0;
}

int linger_close(const char* host, int port) {
  int fd = connect_to(host, port);
  if (fd < 0) die("connect");
  linger l{1, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) die("SO_LINGER");
  close(fd);
  std::printf("reset 1\n");
  return 0;
}

int sink(int port) {
  int lfd = listen_on(port);
  std::printf("listening %d\n", port);
  std::fflush(stdout);
  int fd = accept(lfd, nullptr, nullptr);
  if (fd < 0) die("accept");
  drain(fd);
  close(fd);
  close(lfd);
  return 0;
}

int source(const char* host, int port, long bytes) {
  int fd = connect_to(host, port);
  if (fd < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buf[1024];
  std::memset(buf, 'x', sizeof buf);
  long sent = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (sent < bytes && Clock::now() < deadline) {
    ssize_t w = write(fd, buf, std::min<long>(sizeof buf, bytes - sent));
    if (w <= 0) die("write");
    sent += w;
  }
  shutdown(fd, SHUT_WR);
  drain(fd);
  close(fd);
  std::printf("sent %ld\n", sent);
  return sent == bytes ? 0 : 1;
}

int cpuhog(int threads, int ms) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([&stop] {
      volatile uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  stop = true;
  for (auto& t : workers) t.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  auto arg = [&](int i) -> const char* {
    if (i >= argc) {
      std::fprintf(stderr, "workload %s: missing argument %d\n", mode.c_str(), i);
      std::exit(2);
    }
    return argv[i];
  };
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (mode == "refuse") return refuse(std::atoi(arg(2)), std::atoi(arg(3)));
  if (mode == "serve") return serve(std::atoi(arg(2)), std::atoi(arg(3)));
  if (mode == "connect") return connect_n(arg(2), std::atoi(arg(3)), std::atoi(arg(4)));
  if (mode == "linger-close") return linger_close(arg(2), std::atoi(arg(3)));
  if (mode == "hold") {
    int fd = connect_to(arg(2), std::atoi(arg(3)));
    if (fd < 0) die("connect");
    std::printf("connected 1\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(arg(4))));
    close(fd);
    return 0;
  }
  if (mode == "sink") return sink(std::atoi(arg(2)));
  if (mode == "source") return source(arg(2), std::atoi(arg(3)), std::atol(arg(4)));
  if (mode == "cpuhog") return cpuhog(std::atoi(arg(2)), std::atoi(arg(3)));
  if (mode == "fds") {
    const int n = std::atoi(arg(2));
    std::vector<int> held;
    for (int i = 0; i < n; ++i) {
      int fd = open("/dev/null", O_RDONLY);
      if (fd < 0) die("open");
      held.push_back(fd);
    }
    std::printf("holding %d\n", n);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(arg(3))));
    return 0;
  }
  if (mode == "alloc") {
    const long mb = std::atol(arg(2));
    std::vector<char*> blocks;
    for (long i = 0; i < mb; ++i) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (!p) die("malloc");
      std::memset(p, 1, 1 << 20);
      blocks.push_back(p);
    }
    std::printf("allocated %ld\n", mb);
    return 0;
  }
  if (mode == "idle") {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(arg(2))));
    return 0;
  }
  std::fprintf(stderr, "usage: workload refuse|serve|connect|linger-close|sink|source|cpuhog|idle|fds|alloc ...\n");
  return 2;
}
