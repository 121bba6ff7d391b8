#include "agent/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "trace/event_tap.h"
#include "trace/flat_json.h"
#include "util/log.h"

namespace redeye::agent {
namespace {

constexpr size_t kMaxRequestBytes = 4096;
// Above this much unsent output, events stay in the subscription's queue
// (and are dropped there when it fills): memory per client is bounded.
constexpr size_t kMaxPendingOutput = 256 * 1024;
constexpr int kPollMs = 50;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw ControlSocketError("control socket path '" + path + "' is too long (at most " +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True when something accepts connections on the socket at `path`.
bool answered(const sockaddr_un& addr) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

struct ControlServer::Client {
  int fd = -1;
  std::string in;
  std::string out;
  std::shared_ptr<trace::Subscription> subscription;
  bool close_when_sent = false;
  bool dead = false;
};

ControlServer::ControlServer(std::string path, trace::EventTap& tap, std::shared_ptr<prometheus::Registry> registry)
    : path_(std::move(path)), tap_(tap), registry_(std::move(registry)) {
  const sockaddr_un addr = address_of(path_);
  const auto dir = std::filesystem::path(path_).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw ControlSocketError("cannot create " + dir.string() + ": " + ec.message());
    chmod(dir.c_str(), 0755);
  }
  struct stat st{};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw ControlSocketError(path_ + " exists and is not a socket");
    if (answered(addr)) throw ControlSocketError("another agent answers on " + path_);
    unlink(path_.c_str());  // stale: its agent is gone
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw ControlSocketError(std::string("socket: ") + std::strerror(errno));
  // 0600 from the start: no window in which others could connect
  const mode_t old_mask = umask(0177);
  const int bound = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  umask(old_mask);
  if (bound != 0 || listen(listen_fd_, 16) != 0) {
    const std::string reason = std::strerror(bound != 0 ? bind_errno : errno);
    close(listen_fd_);
    throw ControlSocketError("cannot listen on " + path_ + ": " + reason);
  }
  if (stat(path_.c_str(), &st) == 0) inode_ = st.st_ino;
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { serve(); });
}

ControlServer::~ControlServer() {
  stop_ = true;
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof one) < 0) {
    // the thread still sees stop_ within one poll period
  }
  if (thread_.joinable()) thread_.join();
  struct stat st{};
  if (stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) unlink(path_.c_str());
  close(listen_fd_);
  close(wake_fd_);
}

void ControlServer::serve() {
  std::vector<Client> clients;
  while (!stop_) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (auto& c : clients) fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    const bool streaming = std::any_of(clients.begin(), clients.end(), [](const Client& c) { return c.subscription; });
    if (poll(fds.data(), fds.size(), streaming ? kPollMs : 500) < 0 && errno != EINTR) break;
    if (stop_) break;

    if (fds[1].revents & POLLIN) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (clients.size() >= kMaxClients) {
          static const char busy[] = "error: too many clients\n";
          (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
          close(fd);
        } else {
          clients.push_back(Client{fd});
        }
      }
    }

    for (size_t i = 0; i < clients.size(); ++i) {
      auto& c = clients[i];
      const short revents = i + 2 < fds.size() && fds[i + 2].fd == c.fd ? fds[i + 2].revents : 0;
      if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[1024];
        const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
          c.dead = true;  // the reader went away
        } else if (n > 0 && !c.subscription && !c.close_when_sent) {
          c.in.append(buf, static_cast<size_t>(n));
          const auto eol = c.in.find('\n');
          if (eol == std::string::npos && c.in.size() > kMaxRequestBytes) {
            c.out = "error: request too long\n";
            c.close_when_sent = true;
          } else if (eol != std::string::npos) {
            const std::string request = c.in.substr(0, eol);
            if (request == "metrics") {
              c.out = prometheus::TextSerializer().Serialize(registry_->Collect());
              c.close_when_sent = true;
            } else if (request.rfind("trace ", 0) == 0) {
              if (auto filter = trace::filter_from_json(request.substr(6))) {
                c.subscription = tap_.subscribe(std::move(*filter));
                c.out = "ok\n";
              } else {
                c.out = "error: invalid trace filter\n";
                c.close_when_sent = true;
              }
            } else {
              c.out = "error: unknown request (expected 'trace {...}' or 'metrics')\n";
              c.close_when_sent = true;
            }
          }
        }
      }
      if (c.subscription && !c.dead && c.out.size() < kMaxPendingOutput) {
        for (const auto& e : c.subscription->drain(512)) c.out += trace::to_json(e) + "\n";
        if (const uint64_t dropped = c.subscription->take_dropped())
          c.out += trace::FlatJsonWriter().add("dropped", dropped).str() + "\n";
      }
      if (!c.out.empty() && !c.dead) {
        const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) c.out.erase(0, static_cast<size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EINTR) c.dead = true;
      }
      if (c.close_when_sent && c.out.empty()) c.dead = true;
    }
    for (auto it = clients.begin(); it != clients.end();) {
      if (!it->dead) {
        ++it;
        continue;
      }
      if (it->subscription) tap_.unsubscribe(it->subscription);
      close(it->fd);
      it = clients.erase(it);
    }
  }
  for (auto& c : clients) {
    if (c.subscription) tap_.unsubscribe(c.subscription);
    close(c.fd);
  }
}

}  // namespace redeye::agent
