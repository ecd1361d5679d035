// cgroup v2 paths of the capture filters ([capture] include_cgroups / exclude_cgroups) resolved
// to the directories the loader hands the kernel (a cgroup array map; the kernel filter asks
// whether the task is under that cgroup, a whole subtree). Resolved once, when capture starts
// (before its sandbox shuts the file system): a cgroup removed and created again (a systemd unit
// restarting) is another cgroup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringward::capture {

struct CgroupSubtree {
  uint64_t id = 0;   // cgroup id (inode number of the directory), for the log
  std::string dir;   // the directory on the cgroup2 mount
  std::string path;  // as configured
};

// Mount point of the cgroup2 file system in a /proc/self/mountinfo text: /sys/fs/cgroup, or
// /sys/fs/cgroup/unified on hybrid (v1 + v2) systems. "" when there is none.
std::string cgroup2_mount_in(std::string_view mountinfo);
// The same for this process (reads /proc/self/mountinfo).
std::string cgroup2_mount();

struct CgroupResolution {
  std::optional<CgroupSubtree> subtree;
  std::string error;  // set when subtree is empty: names the path and what is wrong
};

// `path` as in /proc/<pid>/cgroup ("/system.slice/nginx.service"), below the cgroup2 `mount`.
CgroupResolution resolve_cgroup(const std::string& mount, const std::string& path);

}  // namespace ringward::capture
