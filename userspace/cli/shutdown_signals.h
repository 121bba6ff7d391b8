// SIGTERM/SIGINT are blocked in every thread and read from a signalfd by
// the main loop, so shutdown runs the normal destructors (links detached).
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace redeye::cli {

class ShutdownSignals {
 public:
  ShutdownSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~ShutdownSignals() {
    if (fd_ >= 0) close(fd_);
  }
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;
  // The signal received, or 0.
  int pending() const {
    signalfd_siginfo info{};
    if (fd_ >= 0 && read(fd_, &info, sizeof info) == sizeof info) return static_cast<int>(info.ssi_signo);
    return 0;
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace redeye::cli
