// nats-server process control for the sink tests (see nats_server.h). Trust: test only.
#include "tests/sinks/nats_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef SINKS_TEST_NATS_DIR
#error "SINKS_TEST_NATS_DIR must point at tests/sinks/nats"
#endif

namespace ringward::shipper::sinks::test {

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

namespace {
bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

NatsServer::NatsServer(const std::string& template_name, std::map<std::string, std::string> vars,
                       std::filesystem::path dir)
    : vars_(std::move(vars)) {
  std::ifstream in(std::string(SINKS_TEST_NATS_DIR) + "/" + template_name);
  if (!in) throw std::runtime_error("cannot read nats config template " + template_name);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (const auto& [k, v] : vars_) {
    std::string key = "@" + k + "@";
    for (size_t p; (p = text.find(key)) != std::string::npos;) text.replace(p, key.size(), v);
  }
  std::filesystem::create_directories(dir);
  conf_ = dir / (vars_.at("NAME") + ".conf");
  std::ofstream(conf_) << text;
}

NatsServer::~NatsServer() { kill(); }

void NatsServer::start() {
  if (pid_ > 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl("/usr/sbin/nats-server", "nats-server", "-c", conf_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork nats-server");
  int port = std::stoi(vars_.at("PORT"));
  for (int i = 0; i < 500; ++i) {  // up to 10 s
    if (port_open(port)) return;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("nats-server exited at start (" + conf_.string() + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("nats-server did not listen on port " + vars_.at("PORT"));
}

void NatsServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ringward-sinks-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace ringward::shipper::sinks::test
