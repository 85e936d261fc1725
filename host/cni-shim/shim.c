/*
 * weft CNI fast path: a tiny native front end of the `weft` CNI plugin.
 *
 * Design notes
 * ------------
 * A runtime execs the CNI plugin once per container operation; a Node process costs ~40 ms
 * before it does anything. This program costs about a millisecond: it reads the CNI_*
 * environment and the network configuration on stdin, hands both to the node's router over
 * its CNI socket, and relays the answer (stdout bytes, stderr bytes, exit code) unchanged. The
 * router runs the same plugin code (host/cni/plugin.ts) in its own process, so results are
 * byte-identical to the Node plugin's.
 *
 * Whenever the router cannot do that, this program becomes the Node plugin: it execs
 * `weft-node` (or `weft`) from its own directory with the same environment and the same stdin
 * bytes (replayed from a memfd), so every behaviour of the Node plugin is kept: DEL with the
 * router down, VERSION without a router, the about text without CNI_COMMAND. It falls back when
 *   - CNI_COMMAND is unset or empty (the about text; stdin is not read),
 *   - the CNI socket cannot be reached (missing, refused, connect timeout),
 *   - sending the request fails, or the connection ends before a complete answer,
 *   - the router answers "unsupported" (another router's config, router stopping, too large)
 *     or "expired" (it received the request after this program gave up waiting),
 *   - no answer arrives within 2 * timeoutMs + 10 s (the request carries this deadline; the
 *     router does not start a request whose deadline has passed).
 *
 * The CNI socket is the config's `cniSocket` if it is an absolute path, else `cni.sock` in the
 * directory of the config's `socket` (the router's control socket, default
 * /run/weft/weft.sock), i.e. /run/weft/cni.sock by default. A config that is not a JSON object
 * names no router: the default is tried. Only the top level of the JSON
 * object is scanned (strings with every escape, nested values skipped). The router checks that
 * the config's `socket` is its own control socket and answers "unsupported" otherwise, so a
 * scan that disagreed with JSON.parse could only cost the fast path, never change a result.
 *
 * Wire format (all integers big-endian), one request and one answer per connection:
 *   request  "WCNI" u8 version=1, u8 0, u16 0, u64 deadline (CLOCK_MONOTONIC ms, 0 = none),
 *            u32 envBytes, u32 stdinBytes, env ("KEY=VALUE\0" for each CNI_* variable), stdin
 *   answer   "WCNI" u8 version=1, u8 status (0 done, 1 unsupported, 2 expired), u16 0,
 *            u32 exitCode, u32 stdoutBytes, u32 stderrBytes, stdout, stderr
 * See host/router/cni-server.ts for the other side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAGIC "WCNI"
#define WIRE_VERSION 1
#define REQ_HEADER 24
#define ANS_HEADER 20
#define STATUS_DONE 0
/* Requests above this go straight to the Node plugin (the router refuses them too). */
#define MAX_STDIN (8u << 20)
#define MAX_ANSWER_PART (64u << 20)
#define DEFAULT_CONTROL_SOCKET "/run/weft/weft.sock"
#define CNI_SOCKET_NAME "cni.sock"
#define CONNECT_TIMEOUT_MS 2000
#define DEFAULT_TIMEOUT_MS 30000

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
	if (more > SIZE_MAX - b->len) return -1;
	if (b->len + more <= b->cap) return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more) {
		if (cap > SIZE_MAX / 2) return -1;
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_put(struct buf *b, const void *src, size_t n)
{
	if (buf_reserve(b, n) < 0) return -1;
	memcpy(b->p + b->len, src, n);
	b->len += n;
	return 0;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------------------- */
/* the fallback: become the Node plugin                                                       */
/* ---------------------------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				poll(&pfd, 1, 100);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Last resort: one CNI error document on stdout, like the Node plugin's own last resort. */
static void die(const char *msg, const char *what, int err)
{
	char out[PATH_MAX + 512];
	int n = snprintf(out, sizeof out, "{\"cniVersion\":\"1.1.0\",\"code\":999,\"msg\":\"%s\",\"details\":\"", msg);
	if (n < 0 || (size_t)n >= sizeof out) _exit(1);
	for (const char *s = what; *s && (size_t)n < sizeof out - 64; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = (char)c; }
		else if (c < 0x20) n += snprintf(out + n, sizeof out - (size_t)n, "\\u%04x", c);
		else out[n++] = (char)c;
	}
	n += snprintf(out + n, sizeof out - (size_t)n, ": %s\"}", strerror(err));
	if ((size_t)n >= sizeof out) n = sizeof out - 1;
	write_all(1, out, (size_t)n);
	_exit(1);
}

/*
 * The Node plugin next to this executable: WEFT_CNI_FALLBACK if compiled in, else `weft-node`
 * in our directory (the installed layout: /opt/cni/bin/weft + weft-node), else `weft` in our
 * directory unless that is this very file (a checkout: dist/cni/weft-shim + dist/cni/weft).
 */
static const char *fallback_path(char *out, size_t cap)
{
#ifdef WEFT_CNI_FALLBACK
	if (access(WEFT_CNI_FALLBACK, X_OK) == 0) return WEFT_CNI_FALLBACK;
#endif
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) return NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash) return NULL;
	*slash = 0;
	struct stat me, st;
	int have_me = stat("/proc/self/exe", &me) == 0;
	static const char *const names[] = { "weft-node", "weft" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if ((size_t)snprintf(out, cap, "%s/%s", self, names[i]) >= cap) continue;
		if (access(out, X_OK) != 0 || stat(out, &st) != 0) continue;
		if (have_me && st.st_dev == me.st_dev && st.st_ino == me.st_ino) continue;
		return out;
	}
	return NULL;
}

/* Put `data` on fd 0 as if the runtime had written it there. */
static int replay_stdin(const char *data, size_t len)
{
	int fd = memfd_create("weft-cni-stdin", MFD_CLOEXEC);
	if (fd >= 0) {
		if (write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) != 0) {
			close(fd);
			return -1;
		}
	} else {
		/* no memfd (old kernel, seccomp): a pipe, fed by a child when it does not fit */
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0) return -1;
		if (len > 65536) fcntl(p[1], F_SETPIPE_SZ, (int)(len < (1u << 20) ? len : (1u << 20)));
		int cap = fcntl(p[1], F_GETPIPE_SZ);
		if (cap >= 0 && len <= (size_t)cap) {
			if (write_all(p[1], data, len) < 0) return -1;
		} else {
			pid_t pid = fork();
			if (pid < 0) return -1;
			if (pid == 0) {
				close(p[0]);
				_exit(write_all(p[1], data, len) < 0);
			}
		}
		close(p[1]);
		fd = p[0];
	}
	if (dup2(fd, 0) < 0) return -1; /* fd 0 does not inherit O_CLOEXEC */
	close(fd);
	return 0;
}

/* Exec the Node plugin. `data` = NULL leaves fd 0 alone (stdin not consumed). Never returns. */
static void fallback(char **argv, const char *data, size_t len)
{
	char path[PATH_MAX];
	const char *node = fallback_path(path, sizeof path);
	if (!node) die("weft CNI: the Node plugin (weft-node) is not installed next to the shim", "weft-node", ENOENT);
	if (data && replay_stdin(data, len) < 0) die("weft CNI: cannot pass stdin to the Node plugin", node, errno);
	int argc = 0;
	while (argv[argc]) argc++;
	char **args = calloc((size_t)argc + 1, sizeof *args);
	if (!args) die("weft CNI: out of memory", node, ENOMEM);
	args[0] = (char *)node;
	for (int i = 1; i < argc; i++) args[i] = argv[i];
	execv(node, args);
	die("weft CNI: cannot run the Node plugin", node, errno);
}

/* ---------------------------------------------------------------------------------------- */
/* the network configuration: top-level `cniSocket`, `socket` and `timeoutMs`                 */
/* ---------------------------------------------------------------------------------------- */

struct scan {
	const char *p, *end;
};

struct conf {
	/* decoded string values; has_* = the key was present with a string value (last one wins) */
	char socket[PATH_MAX], cni_socket[PATH_MAX];
	int has_socket, has_cni_socket;
	long timeout_ms;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hex4(struct scan *s, unsigned *out)
{
	if (s->end - s->p < 4) return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s->p[i];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
		else return -1;
	}
	s->p += 4;
	*out = v;
	return 0;
}

/* Append code point `cp` as UTF-8 (lone surrogates as U+FFFD, as JavaScript would print them). */
static size_t put_utf8(char *o, unsigned cp)
{
	if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A JSON string at s->p (the opening quote). Decodes into out[cap] when out is not NULL;
 * *truncated is set when it did not fit or holds a NUL (such a value is unusable as a path).
 */
static int scan_string(struct scan *s, char *out, size_t cap, int *truncated)
{
	size_t n = 0;
	int bad = 0;
	if (s->p >= s->end || *s->p != '"') return -1;
	s->p++;
	for (;;) {
		if (s->p >= s->end) return -1;
		unsigned char c = (unsigned char)*s->p++;
		char tmp[4];
		size_t k = 0;
		if (c == '"') break;
		if (c < 0x20) return -1;
		if (c != '\\') {
			tmp[0] = (char)c;
			k = 1;
		} else {
			if (s->p >= s->end) return -1;
			char e = *s->p++;
			unsigned cp;
			switch (e) {
			case '"': case '\\': case '/': tmp[0] = e; k = 1; break;
			case 'b': tmp[0] = '\b'; k = 1; break;
			case 'f': tmp[0] = '\f'; k = 1; break;
			case 'n': tmp[0] = '\n'; k = 1; break;
			case 'r': tmp[0] = '\r'; k = 1; break;
			case 't': tmp[0] = '\t'; k = 1; break;
			case 'u':
				if (hex4(s, &cp) < 0) return -1;
				if (cp >= 0xd800 && cp <= 0xdbff && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u') {
					struct scan t = { s->p + 2, s->end };
					unsigned lo;
					if (hex4(&t, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						s->p = t.p;
					}
				}
				if (cp == 0) bad = 1;
				k = put_utf8(tmp, cp);
				break;
			default: return -1;
			}
		}
		if (out) {
			if (n + k >= cap) bad = 1;
			else { memcpy(out + n, tmp, k); n += k; }
		}
	}
	if (out) out[n] = 0;
	if (truncated) *truncated = bad;
	return 0;
}

static int scan_value(struct scan *s, int depth);

static int scan_container(struct scan *s, int depth, char close, int keyed)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) { s->p++; return 0; }
	for (;;) {
		if (keyed) {
			skip_ws(s);
			if (scan_string(s, NULL, 0, NULL) < 0) return -1;
			skip_ws(s);
			if (s->p >= s->end || *s->p++ != ':') return -1;
		}
		if (scan_value(s, depth + 1) < 0) return -1;
		skip_ws(s);
		if (s->p >= s->end) return -1;
		char c = *s->p++;
		if (c == close) return 0;
		if (c != ',') return -1;
	}
}

static int scan_value(struct scan *s, int depth)
{
	if (depth > 512) return -1;
	skip_ws(s);
	if (s->p >= s->end) return -1;
	char c = *s->p;
	if (c == '"') return scan_string(s, NULL, 0, NULL);
	if (c == '{') return scan_container(s, depth, '}', 1);
	if (c == '[') return scan_container(s, depth, ']', 0);
	/* numbers and literals: a run of the characters they are made of */
	const char *start = s->p;
	while (s->p < s->end && strchr("0123456789+-.eEtrufalsn", *s->p) && *s->p) s->p++;
	return s->p > start ? 0 : -1;
}

/* An integer value in [min, max] at s->p (a plain JSON integer, as timeoutMs must be), or -1. */
static long scan_int(struct scan *s, long min, long max)
{
	skip_ws(s);
	const char *start = s->p;
	long v = 0;
	int digits = 0;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && digits < 10) v = v * 10 + (*s->p++ - '0'), digits++;
	int integral = digits > 0 && (s->p >= s->end || !strchr(".eE0123456789", *s->p) || !*s->p);
	s->p = start;
	if (scan_value(s, 0) < 0) return -2;
	return integral && v >= min && v <= max ? v : -1;
}

/* Fill `c` from the top-level object in json[len]; fields stay unset on any syntax error. */
static void scan_config(const char *json, size_t len, struct conf *c)
{
	struct scan s = { json, json + len };
	struct conf found = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{') return;
	s.p++;
	skip_ws(&s);
	if (s.p < s.end && *s.p == '}') goto done;
	for (;;) {
		char key[16];
		int long_key;
		skip_ws(&s);
		if (scan_string(&s, key, sizeof key, &long_key) < 0) return;
		skip_ws(&s);
		if (s.p >= s.end || *s.p++ != ':') return;
		skip_ws(&s);
		int is_socket = !long_key && strcmp(key, "socket") == 0;
		int is_cni = !long_key && strcmp(key, "cniSocket") == 0;
		if ((is_socket || is_cni) && s.p < s.end && *s.p == '"') {
			int bad;
			char *dst = is_socket ? found.socket : found.cni_socket;
			if (scan_string(&s, dst, PATH_MAX, &bad) < 0) return;
			/* a relative path is an error the plugin reports; it names no socket */
			int usable = !bad && dst[0] == '/';
			if (is_socket) found.has_socket = usable;
			else found.has_cni_socket = usable;
		} else if (!long_key && strcmp(key, "timeoutMs") == 0) {
			long v = scan_int(&s, 100, 600000);
			if (v == -2) return;
			found.timeout_ms = v > 0 ? v : DEFAULT_TIMEOUT_MS;
		} else {
			if (is_socket) found.has_socket = 0;
			if (is_cni) found.has_cni_socket = 0;
			if (scan_value(&s, 0) < 0) return;
		}
		skip_ws(&s);
		if (s.p >= s.end) return;
		char d = *s.p++;
		if (d == '}') break;
		if (d != ',') return;
	}
done:
	*c = found;
}

/* The CNI socket for this configuration (see the design notes). */
static void cni_socket_of(const struct conf *c, char *out, size_t cap)
{
	if (c->has_cni_socket) {
		snprintf(out, cap, "%s", c->cni_socket);
		return;
	}
	const char *ctl = c->has_socket ? c->socket : DEFAULT_CONTROL_SOCKET;
	const char *slash = strrchr(ctl, '/');
	size_t dir = slash ? (size_t)(slash - ctl) : 0;
	if (!slash || dir + 1 + sizeof CNI_SOCKET_NAME > cap) ctl = DEFAULT_CONTROL_SOCKET, dir = sizeof "/run/weft" - 1;
	memcpy(out, ctl, dir);
	snprintf(out + dir, cap - dir, "/%s", CNI_SOCKET_NAME);
}

/* ---------------------------------------------------------------------------------------- */
/* the fast path                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* Read all of fd 0. Returns 0, or -1 on a read error (the Node plugin then reports it). */
static int read_stdin(struct buf *b)
{
	for (;;) {
		if (buf_reserve(b, 65536) < 0) return -1;
		ssize_t n = read(0, b->p + b->len, 65536);
		if (n == 0) return 0;
		if (n > 0) { b->len += (size_t)n; continue; }
		if (errno == EINTR) continue;
		if (errno == EAGAIN) {
			struct pollfd pfd = { .fd = 0, .events = POLLIN };
			poll(&pfd, 1, -1);
			continue;
		}
		/* what the Node plugin also takes for end of input */
		if (errno == EBADF || errno == EINVAL || errno == EISDIR) return 0;
		return -1;
	}
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path) return -1;
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	/* a Unix connect blocks only on a full backlog; SO_SNDTIMEO bounds that wait */
	struct timeval tv = { CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	while (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		if (errno == EINTR) continue;
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR) continue;
			if (errno != EAGAIN) return -1;
			uint64_t now = now_ms();
			if (now >= deadline) return -1;
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, (int)(deadline - now));
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes before the deadline; -1 on EOF, error or timeout. */
static int recv_exact(int fd, char *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		uint64_t now = now_ms();
		if (now >= deadline) return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)(deadline - now > INT_MAX ? INT_MAX : deadline - now));
		if (r < 0 && errno != EINTR) return -1;
		if (r <= 0) continue;
		ssize_t got = recv(fd, p, n, MSG_DONTWAIT);
		if (got == 0) return -1;
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			return -1;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The request: header, CNI_* environment, stdin. */
static int build_request(struct buf *req, const struct buf *in, uint64_t deadline)
{
	unsigned char h[REQ_HEADER] = { 'W', 'C', 'N', 'I', WIRE_VERSION, 0, 0, 0 };
	for (int i = 0; i < 8; i++) h[8 + i] = (unsigned char)(deadline >> (56 - 8 * i));
	if (buf_put(req, h, sizeof h) < 0) return -1;
	size_t env_start = req->len;
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "CNI_", 4) != 0 || !strchr(*e, '=')) continue;
		if (buf_put(req, *e, strlen(*e) + 1) < 0) return -1;
	}
	size_t env_len = req->len - env_start;
	if (env_len > MAX_STDIN) return -1;
	put_be32((unsigned char *)req->p + 16, (uint32_t)env_len);
	put_be32((unsigned char *)req->p + 20, (uint32_t)in->len);
	return buf_put(req, in->p, in->len);
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *cmd = getenv("CNI_COMMAND");
	if (!cmd || !*cmd) fallback(argv, NULL, 0); /* the about text: stdin is not read */

	struct buf in = { 0 };
	struct stat st;
	/* VERSION needs no input: do not wait for EOF on a terminal (as the Node plugin) */
	int tty = strcmp(cmd, "VERSION") == 0 && fstat(0, &st) == 0 && S_ISCHR(st.st_mode);
	if (!tty && read_stdin(&in) < 0) fallback(argv, NULL, 0); /* the Node plugin reads and reports it */
	if (in.len > MAX_STDIN) fallback(argv, in.p, in.len);

	struct conf conf = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	scan_config(in.p ? in.p : "", in.len, &conf);
	char path[PATH_MAX];
	cni_socket_of(&conf, path, sizeof path);

	int fd = connect_to(path);
	if (fd < 0) fallback(argv, in.p, in.len);
	uint64_t deadline = now_ms() + 2 * (uint64_t)conf.timeout_ms + 10000;
	struct buf req = { 0 };
	if (build_request(&req, &in, deadline) < 0 || send_all(fd, req.p, req.len, deadline) < 0) {
		close(fd);
		fallback(argv, in.p, in.len);
	}
	free(req.p);

	unsigned char h[ANS_HEADER];
	if (recv_exact(fd, (char *)h, sizeof h, deadline) < 0 || memcmp(h, MAGIC, 4) != 0 || h[4] != WIRE_VERSION || h[5] != STATUS_DONE) {
		close(fd);
		fallback(argv, in.p, in.len);
	}
	uint32_t code = get_be32(h + 8), out_len = get_be32(h + 12), err_len = get_be32(h + 16);
	char *out = NULL;
	if (out_len > MAX_ANSWER_PART || err_len > MAX_ANSWER_PART || !(out = malloc((size_t)out_len + err_len + 1)) ||
	    recv_exact(fd, out, (size_t)out_len + err_len, deadline) < 0) {
		close(fd);
		fallback(argv, in.p, in.len);
	}
	close(fd);
	/* a runtime that stopped reading must not turn a result into a signal death */
	signal(SIGPIPE, SIG_IGN);
	write_all(1, out, out_len);
	write_all(2, out + out_len, err_len);
	return (int)(code & 0xff);
}
