/*
 * confwatch: inotify on the config file's directory (and on the directory its
 * symlink points into), read by a libevent event; a debounce timer turns an
 * editor's burst of writes, or a ConfigMap's symlink swap, into one check; a
 * SHA-256 of the content decides whether the check calls the owner back. It
 * owns the inotify descriptor, both events and the digest of the last content.
 */
#include "sluice/confwatch.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/log.h"
#include "sluice/util.h"

#define DEBOUNCE_USEC 100000
#define DIGEST_LEN    32 /* SHA-256 */
#define WATCH_MASK    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB)
/* Kubernetes ConfigMap volumes: FILE -> ..data/FILE, ..data -> ..TIMESTAMP, swapped by rename */
#define K8S_DATA_LINK "..data"

struct confwatch {
	char *path;             /* the config path as given */
	char *dir, *name;       /* its directory and file name */
	char *target_dir;       /* the directory it resolves into, when another one */
	char *target_name;      /* the file name there */
	int fd;                 /* inotify, non-blocking */
	int wd_dir, wd_target;  /* watches (-1: none) */
	bool target_shared;     /* wd_target is wd_dir (the same directory): not removed alone */
	struct event *readable; /* fd has events */
	struct event *quiet;    /* debounce: fires once events stopped for a while */
	unsigned char digest[DIGEST_LEN];
	bool have_digest;         /* digest holds the last noted content */
	bool unreadable_logged;   /* the file could not be read, said once */
	bool in_callback, doomed; /* confwatch_free from the callback waits for its return */
	confwatch_fn *cb;
	void *arg;
};

/* "a/b/c" -> "a/b" and "c"; "c" -> "." and "c"; "/c" -> "/" and "c". */
static void split_path(const char *path, char **dir, char **name)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		*dir = xstrdup(".");
		*name = xstrdup(path);
		return;
	}
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	*dir = xmalloc(n + 1);
	memcpy(*dir, path, n);
	(*dir)[n] = '\0';
	*name = xstrdup(slash + 1);
}

/* SHA-256 of a regular file's content; false when it cannot be read (errno set). */
static bool file_digest(const char *path, unsigned char out[DIGEST_LEN])
{
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the loop */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	struct stat st;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && fstat(fd, &st) == 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	if (ok && !S_ISREG(st.st_mode)) {
		errno = EINVAL;
		ok = false;
	}
	char buf[8192];
	ssize_t n = 0;
	while (ok && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0 && EVP_DigestUpdate(md, buf, (size_t)n) == 1;
	}
	unsigned int len = 0;
	ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == DIGEST_LEN;
	int saved = errno;
	EVP_MD_CTX_free(md);
	close(fd);
	errno = saved;
	return ok;
}

/* Follow the config path's symlinks: a target in another directory is
 * watched too, so an edit of the file the link points to is seen. Re-done at
 * every check, as a ConfigMap update moves the target to a new directory. */
static void watch_target(struct confwatch *w)
{
	char *real = realpath(w->path, NULL);
	char *dir = NULL, *name = NULL;
	if (real)
		split_path(real, &dir, &name);
	free(real);
	if (dir && strcmp(dir, w->dir) == 0 && strcmp(name, w->name) == 0) {
		free(dir); /* a plain file: the directory watch sees it */
		free(name);
		dir = name = NULL;
	}
	if (str_eq(dir, w->target_dir) && str_eq(name, w->target_name) &&
	    (!dir || w->wd_target >= 0)) {
		free(dir);
		free(name);
		return;
	}
	if (w->wd_target >= 0 && !w->target_shared)
		(void)inotify_rm_watch(w->fd, w->wd_target); /* EINVAL if its directory is gone */
	w->wd_target = -1;
	w->target_shared = false;
	free(w->target_dir);
	free(w->target_name);
	w->target_dir = dir;
	w->target_name = name;
	if (dir == NULL)
		return;
	w->wd_target = inotify_add_watch(w->fd, dir, WATCH_MASK);
	if (w->wd_target < 0)
		log_debug("config_watch: cannot watch %s: %s", dir, strerror(errno));
	w->target_shared = w->wd_target == w->wd_dir; /* the same directory by another name */
}

static bool relevant(const struct confwatch *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW)
		return true; /* events were lost: check */
	if (ev->wd == w->wd_target && (ev->mask & IN_IGNORED))
		return true; /* the target's directory went away: re-resolve */
	if (ev->len == 0)
		return false;
	if (ev->wd == w->wd_dir &&
	    (strcmp(ev->name, w->name) == 0 || strcmp(ev->name, K8S_DATA_LINK) == 0))
		return true;
	return ev->wd == w->wd_target && w->target_name && strcmp(ev->name, w->target_name) == 0;
}

static void on_events(evutil_socket_t fd, short what, void *arg)
{
	struct confwatch *w = arg;
	(void)what;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				log_debug("config_watch: reading inotify: %s", strerror(errno));
			break;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			any |= relevant(w, ev);
			if (ev->wd == w->wd_target && (ev->mask & IN_IGNORED) && !w->target_shared)
				w->wd_target = -1; /* the kernel dropped it */
			p += sizeof(*ev) + ev->len;
		}
	}
	if (!any)
		return;
	struct timeval tv = { .tv_sec = 0, .tv_usec = DEBOUNCE_USEC };
	if (event_add(w->quiet, &tv) != 0) /* re-arming restarts the wait */
		log_error("config_watch: could not arm the debounce timer");
}

/* The events have been quiet for DEBOUNCE_USEC: has the content changed? */
static void on_quiet(evutil_socket_t fd, short what, void *arg)
{
	struct confwatch *w = arg;
	(void)fd;
	(void)what;
	watch_target(w);
	unsigned char digest[DIGEST_LEN];
	if (!file_digest(w->path, digest)) {
		/* e.g. between an editor's unlink and rename: the next event checks again */
		if (!w->unreadable_logged)
			log_warn("config_watch: cannot read %s (%s); keeping the running "
				 "configuration",
				 w->path, strerror(errno));
		w->unreadable_logged = true;
		return;
	}
	w->unreadable_logged = false;
	if (w->have_digest && memcmp(digest, w->digest, DIGEST_LEN) == 0) {
		log_debug("config_watch: %s unchanged", w->path);
		return;
	}
	memcpy(w->digest, digest, DIGEST_LEN);
	w->have_digest = true;
	log_info("config_watch: %s changed, reloading", w->path);
	w->in_callback = true;
	w->cb(w->arg);
	w->in_callback = false;
	if (w->doomed)
		confwatch_free(w);
}

void confwatch_note_loaded(struct confwatch *w)
{
	if (w == NULL)
		return;
	w->have_digest = file_digest(w->path, w->digest);
}

struct confwatch *confwatch_new(struct event_base *base, const char *path, confwatch_fn *cb,
				void *arg)
{
	struct confwatch *w = xcalloc(1, sizeof(*w));
	w->path = xstrdup(path);
	split_path(path, &w->dir, &w->name);
	w->wd_dir = w->wd_target = -1;
	w->cb = cb;
	w->arg = arg;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 || (w->wd_dir = inotify_add_watch(w->fd, w->dir, WATCH_MASK)) < 0) {
		log_error("config_watch: cannot watch %s: %s", w->dir, strerror(errno));
		confwatch_free(w);
		return NULL;
	}
	watch_target(w);
	w->readable = event_new(base, w->fd, EV_READ | EV_PERSIST, on_events, w);
	w->quiet = evtimer_new(base, on_quiet, w);
	if (w->readable == NULL || w->quiet == NULL || event_add(w->readable, NULL) != 0) {
		log_error("config_watch: could not add the inotify events to the event loop");
		confwatch_free(w);
		return NULL;
	}
	confwatch_note_loaded(w);
	return w;
}

void confwatch_free(struct confwatch *w)
{
	if (w == NULL)
		return;
	if (w->in_callback) { /* on_quiet frees it when the callback returns */
		w->doomed = true;
		return;
	}
	if (w->readable)
		event_free(w->readable);
	if (w->quiet)
		event_free(w->quiet);
	if (w->fd >= 0)
		close(w->fd); /* drops the watches */
	free(w->path);
	free(w->dir);
	free(w->name);
	free(w->target_dir);
	free(w->target_name);
	free(w);
}
