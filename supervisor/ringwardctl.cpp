// ringwardctl: the operator's command line. Talks to the supervisor over its unix control socket;
// the supervisor checks the caller (root or the admin group) with SO_PEERCRED.
//
// Exit codes: 0 ok, 1 the supervisor refused or failed the command, 2 usage error,
// 3 the supervisor is not reachable, 4 permission denied.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "common/config.h"

namespace {

int send_command(const std::string& socket_path, const std::string& line) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    std::cerr << "ringwardctl: socket path too long: " << socket_path << "\n";
    return 2;
  }
  std::strcpy(addr.sun_path, socket_path.c_str());
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    std::cerr << "ringwardctl: cannot reach the supervisor at " << socket_path << ": "
              << strerror(err) << (err == EACCES ? " (needs root or the ringward group)" : "")
              << "\n";
    if (fd >= 0) close(fd);
    return err == EACCES ? 4 : 3;
  }
  std::string msg = line + "\n";
  if (write(fd, msg.data(), msg.size()) < 0) {
    std::cerr << "ringwardctl: write: " << strerror(errno) << "\n";
    close(fd);
    return 3;
  }
  std::string reply;
  char buf[65536];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) > 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t nl = reply.find('\n');
  std::string head = reply.substr(0, nl);
  std::string body = nl == std::string::npos ? "" : reply.substr(nl + 1);
  if (head == "OK") {
    std::cout << body;
    return 0;
  }
  std::cerr << (head == "DENIED" ? body : "ringwardctl: " + head.substr(head.find(' ') + 1) + "\n");
  if (head == "DENIED") return 4;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringwardctl: inspect and control a running ringward"};
  std::string socket_path;
  app.add_option("--socket,-s", socket_path,
                 "supervisor control socket (default: from --config, else /run/ringward/control.sock)");
  std::string config_path;
  app.add_option("--config,-c", config_path, "configuration file to take the socket path from");
  app.require_subcommand(1);

  bool json = false;
  auto* status = app.add_subcommand("status", "processes, rings, events and drops at a glance");
  status->add_flag("--json", json, "one JSON object (stable keys, for scripts)");
  auto* health = app.add_subcommand("health", "Healthy / Degraded / Unhealthy / Unknown with reasons");
  health->add_flag("--json", json, "JSON output");
  std::string target;
  auto* restart = app.add_subcommand("restart", "restart a process (capture, processor, shipper, all)");
  restart->add_option("process", target, "capture | processor | shipper | all")
      ->required()
      ->check(CLI::IsMember({"capture", "processor", "shipper", "all"}));
  auto* stop = app.add_subcommand("stop", "drain the pipeline and stop the supervisor");
  std::string check_file;
  auto* config = app.add_subcommand("config", "configuration tools");
  auto* check = config->add_subcommand("check", "validate a configuration file");
  check->add_option("file", check_file, "the TOML file")->required();
  config->require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  if (check->parsed()) {
    auto r = ringward::load_config(check_file);
    if (!r.config) {
      std::cerr << "invalid: " << r.error << "\n";
      return 1;
    }
    std::cout << "valid: " << check_file << "\n";
    return 0;
  }
  if (socket_path.empty()) {
    auto r = ringward::load_config(config_path);
    if (!r.config) {
      std::cerr << "ringwardctl: " << r.error << "\n";
      return 2;
    }
    socket_path = r.config->supervisor.control_socket;
  }
  std::string line;
  if (status->parsed()) line = json ? "status --json" : "status";
  else if (health->parsed()) line = json ? "health --json" : "health";
  else if (restart->parsed()) line = "restart " + target;
  else if (stop->parsed()) line = "stop";
  return send_command(socket_path, line);
}
