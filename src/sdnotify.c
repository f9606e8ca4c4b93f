/*
 * sdnotify: the sd_notify(3) protocol on a plain AF_UNIX datagram socket. One
 * short-lived socket per message: messages are rare (start, reload, stop) and
 * nothing has to be kept open across fork-less restarts or socket changes.
 */
#include "sluice/sdnotify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sluice/log.h"

/* $NOTIFY_SOCKET as an address: a path, or an abstract name after '@'. False
 * when unset or unusable (logged at debug). */
static bool notify_address(struct sockaddr_un *sa, socklen_t *len)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (name == NULL || name[0] == '\0')
		return false;
	size_t n = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || n >= sizeof(sa->sun_path)) {
		log_debug("sdnotify: NOTIFY_SOCKET=%s is neither a path nor an abstract name, "
			  "ignored",
			  name);
		return false;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@')
		sa->sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends the name */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	return true;
}

void sdnotify_send(const char *state)
{
	struct sockaddr_un sa;
	socklen_t salen;
	if (!notify_address(&sa, &salen))
		return;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_debug("sdnotify: socket: %s", strerror(errno));
		return;
	}
	size_t len = strlen(state);
	ssize_t n =
		sendto(fd, state, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
	if (n < 0 || (size_t)n != len)
		log_debug("sdnotify: could not send to %s: %s", getenv("NOTIFY_SOCKET"),
			  n < 0 ? strerror(errno) : "short write");
	close(fd);
}

/* `head` and, when given, a STATUS= line; a newline in status would start
 * another variable, so it becomes a space. */
static void send_with_status(const char *head, const char *status)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s", head);
	if (status && n >= 0 && (size_t)n < sizeof(msg)) {
		size_t at = (size_t)n;
		snprintf(msg + at, sizeof(msg) - at, "\nSTATUS=%s", status);
		for (char *p = msg + at + 1; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	}
	sdnotify_send(msg);
}

void sdnotify_ready(const char *status)
{
	char head[64];
	snprintf(head, sizeof(head), "READY=1\nMAINPID=%d", (int)getpid());
	send_with_status(head, status);
}

void sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[96];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000);
	sdnotify_send(msg);
}

void sdnotify_stopping(const char *status)
{
	send_with_status("STOPPING=1", status);
}
