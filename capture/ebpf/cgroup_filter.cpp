#include "capture/ebpf/cgroup_filter.h"

#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace ringward::capture {
namespace {

constexpr long kCgroup2Magic = 0x63677270;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string cgroup2_mount_in(std::string_view mountinfo) {
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const size_t sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, sep));
    std::string f[5];
    for (auto& x : f) head >> x;
    if (f[4].empty()) continue;
    return unescape(f[4]);
  }
  return {};
}

std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return cgroup2_mount_in(ss.str());
}

CgroupResolution resolve_cgroup(const std::string& mount, const std::string& path) {
  CgroupResolution r;
  if (mount.empty()) {
    r.error = "cgroup '" + path + "': no cgroup2 file system is mounted";
    return r;
  }
  const std::string dir = mount + (path.empty() || path[0] != '/' ? "/" : "") + path;
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    r.error = "cgroup '" + path + "': " + dir + ": " + std::strerror(errno);
    return r;
  }
  struct statfs fs {};
  if (!S_ISDIR(st.st_mode) || statfs(dir.c_str(), &fs) != 0 || fs.f_type != kCgroup2Magic) {
    r.error = "cgroup '" + path + "': " + dir + " is not a cgroup2 directory";
    return r;
  }
  r.subtree = CgroupSubtree{static_cast<uint64_t>(st.st_ino), dir, path};
  return r;
}

}  // namespace ringward::capture
