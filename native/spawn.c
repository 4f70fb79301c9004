/*
 * peapod-spawn: starts programs for one peapod CLI command (engine/spawn.ts), so that the ~70 MB
 * Node process is forked once per command instead of once per child (each fork of Node costs
 * ~5 ms of CPU copying its page tables; this process is a few hundred KiB).
 *
 * It talks only to the process that started it, over its stdin (requests) and stdout (replies),
 * and ends when its stdin closes. Requests and replies are frames of little-endian u32 fields:
 *
 *   request: len id flags timeout_ms argc envc input_len | cwd\0 argv[0]\0 .. env[0]\0 .. input
 *     flags: 1 stdin is a pipe fed with input (else /dev/null), 2 new session (setsid),
 *            4 sync pipes: fd 3 (the child writes) and fd 4 (the child reads "0"), as conmon's
 *            _OCI_SYNCPIPE/_OCI_STARTPIPE; the reply comes with the first line on fd 3.
 *            8 built in, done by this process without a child: argv "mount" FSTYPE SOURCE TARGET
 *            FLAGS DATA (mount(2)) or "umount" DETACH TARGET... (umount2(2), in the order given);
 *            the reply is as mount(8)/umount(8) would exit: 0, or 32 with "mount: TARGET: reason";
 *            or "netns" FILE: a new network namespace bound on FILE with its loopback up, what
 *            `unshare --net=FILE ip link set lo up` does (a child of this process makes it);
 *            or "pidwait" PID TIMEOUT_MS: replies once the process has ended (code 0; also when
 *            it was gone already), at the timeout (code 1) or at once when pidfd_open(2) is
 *            missing (code 2): a wait without polling /proc;
 *            or "notify" SOCKET MESSAGE PID: one sd_notify(3) datagram (code 0, or 1 with a reason),
 *            sent as PID where the kernel allows it (root), else as this process.
 *   reply:   len id kind code err timed_out out_len err_len | out err
 *     kind 0: exited (code: exit status, -1 when killed by a signal)
 *     kind 1: could not be started (err: errno of chdir/exec)
 *     kind 2: sync line (out: the line; err: stderr so far); the child is then left to itself
 *
 * Children get default signal dispositions, an empty signal mask, the request's environment and no
 * other descriptor of this process (everything here is close-on-exec).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct buf { char *p; size_t n, cap; };

struct child {
  pid_t pid;
  uint32_t id, flags;
  int in, out, err, sync;           /* our ends, -1 when closed */
  struct buf input, sout, serr, ssync;
  size_t input_off;
  int exited, status, timed_out, reported;
  long long deadline;               /* ms on the monotonic clock, 0 = none */
};

static struct child *kids;
static size_t nkids, capkids;

struct pidwait { uint32_t id; int fd; long long deadline; };
static struct pidwait *waits;
static size_t nwaits, capwaits;

static void die(void) { _exit(2); }

static void put(struct buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die();
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void put32(struct buf *b, uint32_t v) {
  unsigned char c[4] = { v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >> 24) & 255 };
  put(b, c, 4);
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; die(); }
    p += w; n -= (size_t)w;
  }
}

static void reply(uint32_t id, uint32_t kind, int32_t code, uint32_t err, uint32_t timed_out,
                  const struct buf *out, const struct buf *errb) {
  struct buf r = {0};
  size_t on = out ? out->n : 0, en = errb ? errb->n : 0;
  put32(&r, (uint32_t)(7 * 4 + on + en));
  put32(&r, id); put32(&r, kind); put32(&r, (uint32_t)code); put32(&r, err); put32(&r, timed_out);
  put32(&r, (uint32_t)on); put32(&r, (uint32_t)en);
  if (on) put(&r, out->p, on);
  if (en) put(&r, errb->p, en);
  write_all(1, r.p, r.n);
  free(r.p);
}

static void closefd(int *fd) { if (*fd >= 0) { close(*fd); *fd = -1; } }

static void forget(size_t i) {
  struct child *k = &kids[i];
  closefd(&k->in); closefd(&k->out); closefd(&k->err); closefd(&k->sync);
  free(k->input.p); free(k->sout.p); free(k->serr.p); free(k->ssync.p);
  kids[i] = kids[--nkids];
}

/* mount(2) / umount2(2) in this process: one system call instead of a mount(8) process. */
static void builtin(uint32_t id, uint32_t argc, char **argv) {
  struct buf err = {0};
  char line[8192];
  int code = 0;
  if (argc == 6 && !strcmp(argv[0], "mount")) {
    unsigned long flags = strtoul(argv[4], NULL, 10);
    if (mount(argv[2], argv[3], argv[1], flags, *argv[5] ? argv[5] : NULL)) {
      snprintf(line, sizeof line, "mount: %s: %s\n", argv[3], strerror(errno));
      put(&err, line, strlen(line));
      code = 32;
    }
  } else if (argc >= 2 && !strcmp(argv[0], "umount")) {
    int detach = argc > 1 && !strcmp(argv[1], "1");
    for (uint32_t i = 2; i < argc; i++) {
      if (umount2(argv[i], detach ? MNT_DETACH : 0)) {
        snprintf(line, sizeof line, "umount: %s: %s\n", argv[i], strerror(errno));
        put(&err, line, strlen(line));
        code = 32;
      }
    }
  } else if (argc == 2 && !strcmp(argv[0], "netns")) {
    /* The child unshares (this process keeps its namespace), binds its namespace on FILE as
     * unshare(1) does, brings lo up as ip(8) does, and reports the step that failed. */
    int rep[2];
    if (pipe2(rep, O_CLOEXEC)) die();
    pid_t pid = fork();
    if (pid < 0) die();
    if (pid == 0) {
      int e[2] = {0, 0};
      struct ifreq ifr;
      int fd = -1;
      memset(&ifr, 0, sizeof ifr);
      strcpy(ifr.ifr_name, "lo");
      if (unshare(CLONE_NEWNET)) e[0] = 1;
      else if (mount("/proc/self/ns/net", argv[1], "none", MS_BIND, NULL)) e[0] = 2;
      else if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr)) e[0] = 3;
      else { ifr.ifr_flags |= IFF_UP; if (ioctl(fd, SIOCSIFFLAGS, &ifr)) e[0] = 3; }
      if (e[0]) e[1] = errno;
      ssize_t w = write(rep[1], e, sizeof e);
      (void)w;
      _exit(e[0] ? 1 : 0);
    }
    close(rep[1]);
    int e[2] = {0, 0};
    ssize_t r;
    do r = read(rep[0], e, sizeof e); while (r < 0 && errno == EINTR);
    close(rep[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    if (r != sizeof e) { e[0] = 1; e[1] = ECHILD; }
    if (e[0]) {
      static const char *what[] = { "", "unshare failed", "mount %s on %s failed", "ip link set lo up failed" };
      char head[4200];
      snprintf(head, sizeof head, what[e[0]], "/proc/self/ns/net", argv[1]);
      snprintf(line, sizeof line, "unshare: %s: %s\n", head, strerror(e[1]));
      put(&err, line, strlen(line));
      code = 1;
    }
  } else if (argc == 3 && !strcmp(argv[0], "pidwait")) {
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)strtol(argv[1], NULL, 10), 0);
    if (fd < 0) {
      code = errno == ESRCH ? 0 : 2;
    } else {
      fcntl(fd, F_SETFD, FD_CLOEXEC);
      if (nwaits == capwaits) {
        capwaits = capwaits ? capwaits * 2 : 8;
        waits = realloc(waits, capwaits * sizeof *waits);
        if (!waits) die();
      }
      waits[nwaits++] = (struct pidwait){ id, fd, now_ms() + strtol(argv[2], NULL, 10) };
      free(err.p);
      return; /* the reply comes from the main loop */
    }
  } else if (argc == 4 && !strcmp(argv[0], "notify")) {
    /* One sd_notify(3) datagram on SOCKET ("@name": abstract). As root it carries the credentials
     * of PID (the CLI, the unit's main process), so the message is its own even with
     * NotifyAccess=main; where that is refused, this process's own (NotifyAccess=all). */
    struct sockaddr_un sa;
    size_t plen = strlen(argv[1]);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (plen == 0 || plen >= sizeof sa.sun_path) { code = 1; errno = EINVAL; }
    else {
      memcpy(sa.sun_path, argv[1], plen);
      if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;
      int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) code = 1;
      else {
        struct iovec iov = { argv[2], strlen(argv[2]) };
        union { char buf[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } cm;
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        memset(&cm, 0, sizeof cm);
        mh.msg_name = &sa;
        mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        pid_t pid = (pid_t)strtol(argv[3], NULL, 10);
        ssize_t sent = -1;
        if (pid > 0 && pid != getpid()) {
          struct ucred uc = { pid, getuid(), getgid() };
          mh.msg_control = cm.buf;
          mh.msg_controllen = sizeof cm.buf;
          struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
          c->cmsg_level = SOL_SOCKET;
          c->cmsg_type = SCM_CREDENTIALS;
          c->cmsg_len = CMSG_LEN(sizeof uc);
          memcpy(CMSG_DATA(c), &uc, sizeof uc);
          sent = sendmsg(fd, &mh, MSG_NOSIGNAL);
          mh.msg_control = NULL;
          mh.msg_controllen = 0;
        }
        if (sent < 0) sent = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (sent < 0) code = 1;
        close(fd);
      }
    }
    if (code) {
      snprintf(line, sizeof line, "notify: %s: %s\n", argv[1], strerror(errno));
      put(&err, line, strlen(line));
    }
  } else {
    snprintf(line, sizeof line, "peapod-spawn: unknown built-in %s\n", argv[0]);
    put(&err, line, strlen(line));
    code = 1;
  }
  reply(id, 0, code, 0, 0, NULL, &err);
  free(err.p);
}

/* Starts one request; replies at once when the program cannot be started. */
static void start(const unsigned char *f, size_t len) {
  if (len < 24) die();
  uint32_t id = get32(f), flags = get32(f + 4), timeout = get32(f + 8);
  uint32_t argc = get32(f + 12), envc = get32(f + 16), inlen = get32(f + 20);
  const char *s = (const char *)f + 24, *end = (const char *)f + len - inlen;
  if (argc == 0 || argc > 1u << 20 || envc > 1u << 20 || inlen > len - 24) die();
  char **argv = calloc(argc + 1, sizeof *argv), **envp = calloc(envc + 1, sizeof *envp);
  if (!argv || !envp) die();
  const char *cwd = s;
  s += strnlen(s, (size_t)(end - s)) + 1;
  for (uint32_t i = 0; i < argc + envc; i++) {
    if (s >= end) die();
    if (i < argc) argv[i] = (char *)s; else envp[i - argc] = (char *)s;
    s += strnlen(s, (size_t)(end - s)) + 1;
  }
  if (s > end) die();
  if (flags & 8) {
    builtin(id, argc, argv);
    free(argv); free(envp);
    return;
  }

  int pin[2] = {-1, -1}, pout[2], perr[2], psync[2] = {-1, -1}, pstart[2] = {-1, -1}, pexec[2];
  if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || pipe2(pexec, O_CLOEXEC)) die();
  if ((flags & 1) && pipe2(pin, O_CLOEXEC)) die();
  if ((flags & 4) && (pipe2(psync, O_CLOEXEC) || pipe2(pstart, O_CLOEXEC))) die();

  pid_t pid = fork();
  if (pid < 0) die();
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    int e = 0;
    if (flags & 2) setsid();
    if (*cwd && chdir(cwd)) e = errno;
    int in = pin[0] >= 0 ? pin[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* dup2 clears close-on-exec on the copies; the originals close at exec */
    if (!e && (dup2(in, 0) < 0 || dup2(pout[1], 1) < 0 || dup2(perr[1], 2) < 0)) e = errno;
    if (!e && (flags & 4) && (dup2(psync[1], 3) < 0 || dup2(pstart[0], 4) < 0)) e = errno;
    if (!e) {
      environ = envp;
      execvp(argv[0], argv);
      e = errno;
    }
    ssize_t w = write(pexec[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(pexec[1]); close(pout[1]); close(perr[1]);
  if (pin[0] >= 0) close(pin[0]);
  if (flags & 4) { close(psync[1]); close(pstart[0]); }
  int e = 0;
  ssize_t r;
  do r = read(pexec[0], &e, sizeof e); while (r < 0 && errno == EINTR);
  close(pexec[0]);
  free(argv); free(envp);
  if (r == sizeof e) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    close(pout[0]); close(perr[0]);
    if (pin[1] >= 0) close(pin[1]);
    if (flags & 4) { close(psync[0]); close(pstart[1]); }
    reply(id, 1, -1, (uint32_t)e, 0, NULL, NULL);
    return;
  }
  if (flags & 4) {
    write_all(pstart[1], "0", 1);
    close(pstart[1]);
  }
  if (nkids == capkids) {
    capkids = capkids ? capkids * 2 : 16;
    kids = realloc(kids, capkids * sizeof *kids);
    if (!kids) die();
  }
  struct child *k = &kids[nkids++];
  memset(k, 0, sizeof *k);
  k->pid = pid; k->id = id; k->flags = flags;
  k->in = pin[1]; k->out = pout[0]; k->err = perr[0]; k->sync = (flags & 4) ? psync[0] : -1;
  if (k->in >= 0) {
    fcntl(k->in, F_SETFL, O_NONBLOCK);
    put(&k->input, end, inlen);
    if (!inlen) closefd(&k->in);
  }
  k->deadline = timeout ? now_ms() + timeout : 0;
}

/* Reads what a pipe has; closes it at end of file. */
static void drain(int *fd, struct buf *b) {
  char tmp[65536];
  ssize_t r = read(*fd, tmp, sizeof tmp);
  if (r > 0) put(b, tmp, (size_t)r);
  else if (r == 0 || (errno != EINTR && errno != EAGAIN)) closefd(fd);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 2;
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  struct buf req = {0};
  int reqs_open = 1;
  struct pollfd *pf = NULL;
  size_t cappf = 0;

  while (reqs_open || nkids || nwaits) {
    /* finished children: reply and forget */
    for (size_t i = 0; i < nkids;) {
      struct child *k = &kids[i];
      if (k->sync >= 0 && !k->reported) {
        char *nl = k->ssync.n ? memchr(k->ssync.p, '\n', k->ssync.n) : NULL;
        if (nl || k->sync < 0) {
          struct buf line = { k->ssync.p, nl ? (size_t)(nl - k->ssync.p) : k->ssync.n, 0 };
          reply(k->id, 2, 0, 0, 0, &line, &k->serr);
          k->reported = 1;
          closefd(&k->sync); closefd(&k->out); closefd(&k->err); closefd(&k->in);
        }
      }
      if ((k->flags & 4) && !k->reported && k->sync < 0) {
        /* fd 3 closed without a full line: report what came */
        reply(k->id, 2, 0, 0, 0, &k->ssync, &k->serr);
        k->reported = 1;
        closefd(&k->out); closefd(&k->err); closefd(&k->in);
      }
      if (k->exited && k->out < 0 && k->err < 0 && k->sync < 0) {
        if (!k->reported) {
          int code = WIFEXITED(k->status) ? WEXITSTATUS(k->status) : -1;
          reply(k->id, 0, code, 0, (uint32_t)k->timed_out, &k->sout, &k->serr);
        }
        forget(i);
        continue;
      }
      i++;
    }
    if (!reqs_open) break; /* nobody reads replies any more; children carry on without us */

    size_t n = 0;
    if (cappf < 2 + nkids * 4 + nwaits) { cappf = 2 + nkids * 4 + nwaits + 16; pf = realloc(pf, cappf * sizeof *pf); if (!pf) die(); }
    pf[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
    pf[n++] = (struct pollfd){ .fd = reqs_open ? 0 : -1, .events = POLLIN };
    long long next = 0, t = now_ms();
    for (size_t i = 0; i < nkids; i++) {
      struct child *k = &kids[i];
      pf[n++] = (struct pollfd){ .fd = k->out, .events = POLLIN };
      pf[n++] = (struct pollfd){ .fd = k->err, .events = POLLIN };
      pf[n++] = (struct pollfd){ .fd = k->sync, .events = POLLIN };
      pf[n++] = (struct pollfd){ .fd = k->in, .events = POLLOUT };
      if (k->deadline && !k->timed_out && !k->exited && (!next || k->deadline < next)) next = k->deadline;
    }
    for (size_t i = 0; i < nwaits; i++) {
      pf[n++] = (struct pollfd){ .fd = waits[i].fd, .events = POLLIN };
      if (!next || waits[i].deadline < next) next = waits[i].deadline;
    }
    int timeout = next ? (int)(next > t ? next - t : 0) : -1;
    int pr = poll(pf, n, timeout);
    if (pr < 0 && errno != EINTR) die();

    t = now_ms();
    for (size_t i = 0; i < nkids; i++) {
      struct child *k = &kids[i];
      if (k->deadline && !k->timed_out && !k->exited && t >= k->deadline) {
        k->timed_out = 1;
        kill(k->pid, SIGTERM);
      }
    }
    /* process waits: ended (readable) or timed out; pf indexes stay valid until this loop ends */
    for (size_t i = 0, j = 2 + nkids * 4, kept = 0; i < nwaits; i++, j++) {
      int ended = pr > 0 && pf[j].revents;
      if (ended || t >= waits[i].deadline) {
        reply(waits[i].id, 0, ended ? 0 : 1, 0, 0, NULL, NULL);
        close(waits[i].fd);
      } else {
        waits[kept++] = waits[i];
      }
      if (i + 1 == nwaits) nwaits = kept;
    }
    if (pr <= 0) continue;

    /* children's pipes first: kids[] does not change while pf refers to it */
    for (size_t i = 0, j = 2; i < nkids; i++, j += 4) {
      struct child *k = &kids[i];
      if (pf[j].revents && k->out >= 0) drain(&k->out, &k->sout);
      if (pf[j + 1].revents && k->err >= 0) drain(&k->err, &k->serr);
      if (pf[j + 2].revents && k->sync >= 0) drain(&k->sync, &k->ssync);
      if (pf[j + 3].revents && k->in >= 0) {
        ssize_t w = write(k->in, k->input.p + k->input_off, k->input.n - k->input_off);
        if (w > 0) k->input_off += (size_t)w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || k->input_off == k->input.n) closefd(&k->in);
      }
    }
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {}
      int st;
      pid_t p;
      while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < nkids; i++) {
          if (kids[i].pid == p) { kids[i].exited = 1; kids[i].status = st; break; }
        }
      }
    }
    if (pf[1].revents) {
      char tmp[65536];
      ssize_t r = read(0, tmp, sizeof tmp);
      if (r > 0) put(&req, tmp, (size_t)r);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) reqs_open = 0;
      size_t off = 0;
      while (req.n - off >= 4) {
        uint32_t len = get32((unsigned char *)req.p + off);
        if (req.n - off - 4 < len) break;
        start((unsigned char *)req.p + off + 4, len);
        off += 4 + len;
      }
      memmove(req.p, req.p + off, req.n - off);
      req.n -= off;
    }
  }
  return 0;
}
