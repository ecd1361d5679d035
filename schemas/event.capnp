# ringward event schema: the one record format of the raw ring, the out ring, the disk buffer and
# the dead-letter queue. Every reader treats a record as hostile input: read it with traversal
# limits and validate every field before use.
@0xc3a1f0b2d4e59a71;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ringward::schema");

enum Priority {
  low @0;
  normal @1;
  high @2;
  critical @3;
}

enum Verdict {
  none @0;        # not inspected or nothing found
  clean @1;       # inspected, nothing found
  suspicious @2;
  malicious @3;
}

struct Event {
  id @0 :UInt64;              # capture epoch (high 32 bits) + sequence (low 32 bits)
  monoNs @1 :UInt64;          # CLOCK_MONOTONIC (boot-relative) capture timestamp
  wallNs @2 :UInt64;          # CLOCK_REALTIME, nanoseconds since the Unix epoch
  host @3 :Text;
  pid @4 :UInt32;             # thread-group id
  tid @5 :UInt32;
  ppid @6 :UInt32;
  uid @7 :UInt32;
  gid @8 :UInt32;
  comm @9 :Data;              # raw kernel comm bytes (up to 16), not guaranteed UTF-8
  cgroupId @10 :UInt64;
  priority @11 :Priority;

  # Added by the processor.
  verdict @12 :Verdict;
  ruleIds @13 :List(Text);
  score @14 :Float32;         # detection score or endpoint health score, by kind

  kind :union {
    processExec @15 :ProcessExec;
    processExit @16 :ProcessExit;
    fileOpen @17 :FileOpen;
    netConnect @18 :NetConn;
    netAccept @19 :NetConn;
    privilegeChange @20 :PrivilegeChange;
    http @21 :HttpExchange;
    lost @22 :Lost;
    validationFailure @23 :ValidationFailure;
    endpointHealth @24 :EndpointHealth;
  }

  parentComm @25 :Data;       # comm of the parent process, when capture knows it
  threadStartNs @26 :UInt64;  # CLOCK_MONOTONIC start of the thread `tid` (0: unknown); with tid,
                              # the thread's identity (a reused tid starts later)
  euid @27 :UInt32;           # effective uid (uid is the real one), when capture knows it

}

struct ProcessExec {
  filename @0 :Data;          # bytes as the kernel saw them
  argv @1 :List(Data);
  cwd @2 :Data;
  argvTruncated @3 :Bool;
}

struct ProcessExit {
  exitCode @0 :Int32;         # exit status as for wait(): code << 8 | signal
}

struct FileOpen {
  path @0 :Data;
  flags @1 :UInt32;
  mode @2 :UInt32;
  result @3 :Int32;           # fd or -errno
  syscall @4 :Text;           # "openat" | "openat2" | "open" | "creat"
}

struct NetConn {
  family @0 :UInt16;          # AF_INET (2) or AF_INET6 (10)
  srcAddr @1 :Data;           # 4 or 16 bytes, network order
  dstAddr @2 :Data;
  srcPort @3 :UInt16;
  dstPort @4 :UInt16;
  result @5 :Int32;           # 0, fd, or -errno
}

struct PrivilegeChange {
  syscall @0 :Text;           # setuid, setgid, setresuid, setresgid, setreuid, setregid, capset, exec
  oldUid @1 :UInt32;
  newUid @2 :UInt32;
  oldEuid @3 :UInt32;
  newEuid @4 :UInt32;
  oldGid @5 :UInt32;
  newGid @6 :UInt32;
  oldCaps @7 :UInt64;         # effective capability sets
  newCaps @8 :UInt64;
  result @9 :Int32;
  filename @10 :Data;         # for exec of a set-uid/set-gid binary
  oldEgid @11 :UInt32;        # effective gid (a set-gid exec changes only this one)
  newEgid @12 :UInt32;
}

struct HttpExchange {
  method @0 :Text;
  target @1 :Data;
  status @2 :UInt16;          # 0 when no response was seen (timeout)
  request @3 :Data;           # first bytes of the request, at most 1024
  response @4 :Data;          # first bytes of the response, at most 1024
  requestSize @5 :UInt64;     # bytes the syscall moved, possibly more than captured
  responseSize @6 :UInt64;
  latencyNs @7 :UInt64;
  timedOut @8 :Bool;
  tls @9 :Bool;
  family @10 :UInt16;
  localAddr @11 :Data;
  remoteAddr @12 :Data;
  localPort @13 :UInt16;
  remotePort @14 :UInt16;
  role @15 :Text;             # "server" | "client"
  # Derived by the processor.
  route @16 :Text;
  service @17 :Text;
  businessError @18 :Text;    # "" or rate_limit, auth_failure, insufficient_funds, validation, ...
  bodyEncoding @19 :Text;     # "", "chunked", "gzip", ...
}

struct Lost {
  count @0 :UInt64;
  stage @1 :Text;             # kernel, capture, processor, shipper
  reason @2 :Text;
  eventKind @3 :Text;
  cpu @4 :Int32;              # -1 when not per CPU
}

struct ValidationFailure {
  reason @0 :Text;
  count @1 :UInt64;           # failures of this reason in the interval this sample stands for
  sample @2 :Data;            # first bytes of the offending record, escaped on output
}

struct EndpointHealth {
  service @0 :Text;
  route @1 :Text;
  score @2 :Float32;
  state @3 :Text;             # healthy, degraded, unhealthy
  requests @4 :UInt64;
  errorRate5xx @5 :Float64;
  businessErrorRate @6 :Float64;
  p99Ms @7 :Float64;
}
