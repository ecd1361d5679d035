// cgroup v2 paths of the capture filters ([capture] include_cgroups / exclude_cgroups) turned into
// what the kernel filter tests: a cgroup's id (the inode number of its directory on cgroup2) and
// its depth below the root, the level bpf_get_current_ancestor_cgroup_id() takes. An entry covers
// its whole subtree. Resolved once, when capture starts (before its sandbox shuts the file
// system): a cgroup removed and created again (a systemd unit restarting) has a new id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringward::capture {

struct CgroupSubtree {
  uint64_t id = 0;
  uint32_t level = 0;  // 0: the root cgroup (covers every task)
  std::string path;    // as configured
};

// Mount point of the cgroup2 file system in a /proc/self/mountinfo text: /sys/fs/cgroup, or
// /sys/fs/cgroup/unified on hybrid (v1 + v2) systems. "" when there is none.
std::string cgroup2_mount_in(std::string_view mountinfo);
// The same for this process (reads /proc/self/mountinfo).
std::string cgroup2_mount();

// Depth of a cgroup path: "/" 0, "/system.slice" 1, "/system.slice/nginx.service" 2.
uint32_t cgroup_level(std::string_view path);

struct CgroupResolution {
  std::optional<CgroupSubtree> subtree;
  std::string error;  // set when subtree is empty: names the path and what is wrong
};

// `path` as in /proc/<pid>/cgroup ("/system.slice/nginx.service"), below the cgroup2 `mount`.
CgroupResolution resolve_cgroup(const std::string& mount, const std::string& path);

}  // namespace ringward::capture
